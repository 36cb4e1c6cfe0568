"""A member's open-conversation cap and messages-per-minute limit hold under parallel requests: each
request counts after the one before it has written (the member is locked first), never all against
the same old count."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from lsso_mobile.models import Conversation, Message
from tests.messaging_support import member, new_key, officer, start

BASE = "/api/v1/conversations"


def _in_parallel(app, requests: list[Callable]) -> Counter:
    """Run each request in its own thread with its own test client, all released together; count the statuses."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = []

    def run(request: Callable) -> None:
        own_client = app.test_client()
        barrier.wait()
        statuses.append(request(own_client).status_code)

    threads = [threading.Thread(target=run, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return Counter(statuses)


@pytest.mark.parametrize("settings_overrides", [{"max_open_conversations": 5}])
def test_parallel_starts_open_at_most_the_cap(app, client, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055580091")
    statuses = _in_parallel(app, [lambda own, i=i: start(own, alice, subject=f"question {i}") for i in range(12)])
    assert statuses == Counter({201: 5, 409: 7})
    assert db.scalar(select(func.count()).select_from(Conversation)) == 5


@pytest.mark.parametrize("settings_overrides", [{"messages_per_minute": 8, "max_open_conversations": 20}])
def test_parallel_sends_stay_within_the_messages_per_minute(app, client, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055580092")
    conversations = [start(client, alice, subject=f"topic {i}").json["conversation"]["id"] for i in range(6)]

    def send(conversation_id: int) -> Callable:
        body = {"body": "Any news?", "idempotency_key": new_key()}
        return lambda own: own.post(f"{BASE}/{conversation_id}/messages", json=body, headers=alice)

    statuses = _in_parallel(app, [send(cid) for cid in conversations * 2])  # 6 earlier + 2 more make 8
    assert statuses == Counter({201: 2, 429: 10})
    assert db.scalar(select(func.count()).select_from(Message)) == 8


@pytest.mark.parametrize("settings_overrides", [{"messages_per_minute": 100}])
def test_a_member_and_an_officer_writing_in_one_conversation_never_deadlock(app, client, sms_gateway, staff, db):
    """The member's lock must not block the officer's reply, which holds the conversation and writes the
    member's notice (a foreign key to the member), while the member's send waits for the conversation."""
    alice = member(client, sms_gateway, "+8562055580093")
    desk = officer(client, staff["officer"])
    cid = start(client, alice).json["conversation"]["id"]
    for _ in range(15):
        reply = {"body": "We are checking.", "idempotency_key": new_key()}
        send = {"body": "Thank you.", "idempotency_key": new_key()}
        statuses = _in_parallel(
            app,
            [
                lambda own: own.post(f"/api/v1/staff/conversations/{cid}/replies", json=reply, headers=desk),
                lambda own: own.post(f"{BASE}/{cid}/messages", json=send, headers=alice),
            ],
        )
        assert statuses == Counter({201: 2})
