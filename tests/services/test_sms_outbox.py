"""The SMS outbox through a real RQ queue on Redis: the job holds the row's id, never the phone or the
text; a repeated job sends nothing twice; an SMS whose job was lost is sent by the relay."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from lsso_mobile import runtime
from lsso_mobile.models import SmsMessage, utcnow
from lsso_mobile.services.sms import SMS_RELAY_AFTER, queue_sms
from lsso_mobile.tasks.periodic import relay_sms
from lsso_mobile.tasks.sms import send_sms
from tests.conftest import REDIS_URL

PHONE = "+8562055567890"
TEXT = "ປກສ: ລະຫັດ 482913. LSSO link code 482913."
PREFIX = f"lsso-test-sms-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis() -> Iterator[Redis]:
    connection = Redis.from_url(REDIS_URL)
    yield connection
    keys = list(connection.scan_iter(f"*{PREFIX}*", count=1000))
    if keys:
        connection.delete(*keys)
    connection.close()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"redis_url": REDIS_URL, "queue_prefix": PREFIX}


def _queue_one() -> int:
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        return queue_sms(session, rt.settings, PHONE, TEXT, "link_code").id


def test_the_job_holds_only_the_id_and_the_text_is_wiped_once_sent(app, sms_gateway, db, redis):
    sms_id = _queue_one()
    queue = Queue(f"{PREFIX}-sms", connection=redis)
    (job,) = queue.get_jobs()
    assert job.args == (sms_id,)
    assert job.result_ttl == 0 and job.failure_ttl <= 3600
    stored = redis.hgetall(job.key)
    in_redis = b"".join(k + b"=" + v for k, v in stored.items()) + zlib.decompress(stored[b"data"])
    for secret in (PHONE, PHONE[4:], "482913", TEXT):
        assert secret.encode() not in in_redis, secret
    row = db.get(SmsMessage, sms_id)
    assert row.sealed_text is not None and "482913" not in row.sealed_text  # sealed at rest

    SimpleWorker([queue], connection=redis).work(burst=True)

    assert [m["text"] for m in sms_gateway.messages if m["to"] == PHONE] == [TEXT]
    db.expire_all()
    row = db.get(SmsMessage, sms_id)
    assert row.sent_at is not None and row.sealed_text is None and row.attempts == 1
    assert not redis.exists(job.key)
    send_sms(sms_id)  # a repeated job finds it sent
    assert sms_gateway.count_to(PHONE) == 1


def test_a_failed_send_keeps_the_text_and_the_relay_sends_a_lost_one(app, sms_gateway, db, redis):
    sms_gateway.fail_next = 1
    sms_id = _queue_one()
    with pytest.raises(Exception, match="HTTP 5"):
        send_sms(sms_id)  # what RQ would retry
    db.expire_all()
    assert db.get(SmsMessage, sms_id).sealed_text is not None
    redis.delete(*redis.keys(f"*{PREFIX}*"))  # the job is lost (Redis flushed)
    assert relay_sms() == 0  # not overdue yet
    row = db.get(SmsMessage, sms_id)
    row.created_at = utcnow() - SMS_RELAY_AFTER - timedelta(seconds=1)
    db.commit()
    assert relay_sms() == 1
    SimpleWorker([Queue(f"{PREFIX}-sms", connection=redis)], connection=redis).work(burst=True)
    assert sms_gateway.count_to(PHONE) == 1
    db.expire_all()
    assert db.get(SmsMessage, sms_id).sent_at is not None
    assert relay_sms() == 0


def test_the_daily_prune_wipes_the_text_of_sms_that_will_never_go(app, sms_gateway, db, redis):
    from lsso_mobile.services.housekeeping import prune_expired_auth_rows
    from lsso_mobile.services.sms import SMS_GIVE_UP

    old, fresh = _queue_one(), _queue_one()
    row = db.get(SmsMessage, old)
    row.created_at = utcnow() - SMS_GIVE_UP - timedelta(minutes=1)
    db.commit()
    assert prune_expired_auth_rows(db, utcnow()) == 1
    db.commit()
    db.expire_all()
    assert db.get(SmsMessage, old).sealed_text is None and db.get(SmsMessage, old).sent_at is None
    assert db.get(SmsMessage, fresh).sealed_text is not None  # still to be sent


def test_a_claimed_sms_is_not_sent_by_a_second_job_and_an_expired_one_not_at_all(app, sms_gateway, db, redis):
    from lsso_mobile.services.sms import sms_to_send

    rt = runtime.current()
    sms_id = _queue_one()
    with rt.db.unit_of_work() as session:
        assert sms_to_send(session, rt.settings, sms_id, utcnow()) == (PHONE, TEXT)  # a job is sending it ...
    send_sms(sms_id)  # ... so a relayed copy sends nothing
    assert sms_gateway.count_to(PHONE) == 0
    with rt.db.unit_of_work() as session:
        expiring = queue_sms(session, rt.settings, PHONE, TEXT, "link_code", expires_at=utcnow() + timedelta(seconds=1))
        expiring_id = expiring.id
    row = db.get(SmsMessage, expiring_id)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    send_sms(expiring_id)
    assert sms_gateway.count_to(PHONE) == 0
    db.expire_all()
    assert db.get(SmsMessage, expiring_id).sealed_text is None  # a stale code is wiped, never sent
