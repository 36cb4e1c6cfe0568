"""The issue's "done when", with real parts: Redis/RQ, a `lsso-mobile worker` process that asks the local fake
bank over HTTP, firebase-admin against the local FCM server and the SMS gateway.

A member with one month of arrears makes a bill for it and two months ahead, gets the QR (its payload
parses and its CRC checks), the bank pays and calls back twice and out of order; the member gets exactly
one receipt push and one receipt SMS, the record shows three paid months awaiting confirmation, the core
feed lists the payment once, and a core import confirms it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lsso_mobile.models import Payment
from lsso_mobile.services.lao_qr import crc_ok, parse_tlv
from lsso_mobile.services.payments import valid_bill_number
from tests.conftest import CALLBACK_SECRET, REDIS_URL
from tests.notify.conftest import pipeline_overrides
from tests.payments_support import (
    arrear_period,
    contribution,
    core_headers,
    current_period,
    import_records,
    registered_member,
    send_callback,
)
from tests.support import wait_until

pytestmark = pytest.mark.slow

TOKEN = "tok-payer-phone-0123456789"


@pytest.fixture
def settings_overrides(fcm_server, queue_prefix, bank):
    return {
        **pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix),
        "payment_provider_url": bank.url,
        "payment_callback_secret": CALLBACK_SECRET,
        "payment_feed_lag_seconds": 1,
    }


def worker_ready(prefix: str) -> bool:
    from redis import Redis
    from rq import Worker

    redis = Redis.from_url(REDIS_URL)
    try:
        return any(f"{prefix}-payments" in worker.queue_names() for worker in Worker.all(connection=redis))
    finally:
        redis.close()


def test_a_member_pays_arrears_and_two_months_ahead_end_to_end(
    app, client, sms_gateway, staff, db, settings, fcm_server, workers, bank, queue_prefix
):
    workers.start()
    # a busy machine takes a while to start a worker; sign-up codes go through it
    wait_until(lambda: worker_ready(queue_prefix), timeout=120, interval=0.5, message="the worker")
    phone = "+8562055520001"
    member, number = registered_member(client, sms_gateway, staff["officer"], phone, language="en")
    device = {"token": TOKEN, "platform": "android", "app_version": "1.0.0"}
    assert client.post("/api/v1/me/devices", json=device, headers=member).status_code == 201
    core = core_headers(client, db, settings)
    import_records(client, core, [contribution(number, arrear_period(), "unpaid", total=200_000)])
    pushes_before = len(fcm_server.accepted(TOKEN))  # the device came after the approval: nothing yet

    dues = client.get("/api/v1/me/dues", headers=member).json["months"]
    months = [m["period"] for m in dues[:3]]
    assert months[0] == arrear_period() and months[1] == current_period()
    bill = client.post("/api/v1/me/bills", json={"months": months}, headers={**member, "Idempotency-Key": "k-1"})
    assert bill.status_code == 201, bill.json
    bill = bill.json
    assert valid_bill_number(bill["number"]) and bill["amount"] == 200_000 + 2 * 225_000

    payload = bill["qr_payload"]
    assert crc_ok(payload)
    fields = parse_tlv(payload)
    assert fields["54"] == str(bill["amount"]) and parse_tlv(fields["62"])["01"] == bill["number"]
    assert client.get(f"/api/v1/me/bills/{bill['id']}/qr", headers=member).data.startswith(b"\x89PNG")

    # The bank: a failed attempt, then the payment; callbacks twice and out of order (the later first).
    failed = bank.pay(bill["number"], bill["amount"], status="failed")
    paid = bank.pay(bill["number"], bill["amount"])
    for transaction in (paid, failed, paid):
        answer = send_callback(client, bank, transaction)
        assert answer.status_code == 202, answer.json

    def state() -> dict[str, str]:
        db.expire_all()
        return {p.transaction_id: p.status.value for p in db.scalars(select(Payment))}

    wait_until(lambda: state() == {paid: "credited", failed: "failed"}, timeout=30, message="the credit")
    assert send_callback(client, bank, paid).json["status"] == "credited"  # a late duplicate changes nothing

    wait_until(lambda: len(fcm_server.accepted(TOKEN)) > pushes_before, timeout=30, message="the receipt push")
    wait_until(
        lambda: [m for m in sms_gateway.messages if m["to"] == phone and bill["number"] in m["text"]],
        timeout=30,
        message="the receipt SMS",
    )
    time.sleep(2)  # anything repeated would have arrived by now
    # the receipt's pushes (the approval's own push may reach the new device late, from the worker)
    pushes = [p for p in fcm_server.accepted(TOKEN)[pushes_before:] if bill["number"] in json.dumps(p)]
    assert len(pushes) == 1, pushes
    receipts = [m for m in sms_gateway.messages if m["to"] == phone and bill["number"] in m["text"]]
    assert len(receipts) == 1 and "650,000 kip" in receipts[0]["text"], receipts

    record = {r["period"]: r for r in client.get("/api/v1/me/contributions", headers=member).json["items"]}
    assert [(record[p]["status"], record[p]["awaiting_confirmation"]) for p in months] == [("paid", True)] * 3
    assert client.get("/api/v1/me/contributions/summary", headers=member).json["arrears"] == []

    time.sleep(settings.payment_feed_lag_seconds + 0.2)
    feed = client.get("/api/v1/integration/app-payments", headers=core).json
    assert [(i["bill_number"], i["transaction_id"], i["amount"]) for i in feed["items"]] == [
        (bill["number"], paid, bill["amount"])
    ]
    assert (
        client.get(f"/api/v1/integration/app-payments?cursor={feed['next_cursor']}", headers=core).json["items"] == []
    )

    today = str(datetime.now(UTC).date())
    import_records(
        client,
        core,
        [contribution(number, m["period"], "paid", total=m["amount"], paid_date=today) for m in bill["months"][:2]],
    )
    record = {r["period"]: r for r in client.get("/api/v1/me/contributions", headers=member).json["items"]}
    assert [record[p]["awaiting_confirmation"] for p in months] == [False, False, True]  # the third: in its month
