"""A broadcast through Redis/RQ and real `lsso-mobile worker` processes, one of them killed mid-send."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from lsso_mobile.models import Broadcast, BroadcastSlice, BroadcastStatus, SliceStatus, StaffRole
from lsso_mobile.services.accounts import create_staff_user
from tests.conftest import REDIS_URL, STAFF_PASSWORD
from tests.notify.conftest import pipeline_overrides
from tests.support import bearer, make_member_with_devices, staff_sign_in, wait_until

pytestmark = pytest.mark.slow

DEVICES = 1200


@pytest.fixture
def settings_overrides(fcm_server, queue_prefix):
    return {**pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix), "broadcast_slice_devices": 700}


def test_worker_killed_mid_broadcast_gives_every_device_exactly_one_push(
    app, client, db, staff, settings, fcm_server, workers
):
    tokens = [f"tok-bc-kill-{i:05d}" for i in range(DEVICES)]
    for start in range(0, DEVICES, 300):  # four members with 300 devices each
        make_member_with_devices(db, f"+85620555900{start // 300:02d}", tokens[start : start + 300])
    create_staff_user(db, settings, "ops.second", STAFF_PASSWORD, StaffRole.OPS, "Second ops", None)
    db.commit()
    author = bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"])
    approver = bearer(staff_sign_in(client, "ops.second", STAFF_PASSWORD)["access_token"])

    # Two slices (700 + 500 device ids). The first call of each is answered; the rest of the first
    # slice (tokens 500-699) hangs, and the worker is killed inside that call.
    held = set(tokens[500:700])
    fcm_server.hold(held, 3.0)
    victim = workers.start()
    created = client.post(
        "/api/v1/staff/broadcasts",
        headers=author,
        json={"title_lo": "ແຈ້ງການ", "body_lo": "ອັດຕາໃໝ່", "title_en": "Notice", "body_en": "New rate"},
    )
    broadcast_id = created.json["id"]
    client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=author)
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=approver).status_code == 200
    wait_until(
        lambda: fcm_server.accepted_count() >= 500 and any(fcm_server.attempts(t) for t in held),
        timeout=30,
        message="the worker to be inside the slice's second send_each call",
    )
    workers.kill(victim)
    fcm_server.clear_rules()
    before_recovery = fcm_server.accepted_count()
    assert before_recovery < DEVICES

    workers.start()  # the relay frees the dead run's slice once its lease is over; the new run resumes
    wait_until(lambda: fcm_server.accepted_count() >= DEVICES, timeout=60, message="recovery to finish")
    time.sleep(2.5)  # room for any duplicate to show up
    counts = fcm_server.counts_by_token()
    assert len(counts) == DEVICES and set(counts.values()) == {1}

    wait_until(
        lambda: (db.expire_all(), db.get(Broadcast, broadcast_id).status)[1] is BroadcastStatus.SENT,
        timeout=20,
        message="the broadcast to be marked sent",
    )
    slices = db.scalars(select(BroadcastSlice).where(BroadcastSlice.broadcast_id == broadcast_id)).all()
    assert [s.status for s in slices] == [SliceStatus.DONE, SliceStatus.DONE]
    assert max(s.runs for s in slices) >= 2  # one slice really was resumed by a second run
    assert sum(province.get("sent", 0) for s in slices for province in s.stats.values()) == DEVICES
    stats = client.get(f"/api/v1/staff/broadcasts/{broadcast_id}/stats", headers=author).json
    assert stats["totals"]["sent"] == DEVICES and stats["slices_done"] == 2
    assert db.scalar(select(func.count()).select_from(BroadcastSlice)) == 2
