"""Sign-in codes through a real RQ queue on Redis: the queue holds the code row's id, never the code or
the phone; nothing is kept once sent; without Redis the code is still sent, in-process."""

from __future__ import annotations

import socket
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from lsso_mobile.models import OtpCode
from lsso_mobile.tasks.sms import send_code
from tests.conftest import REDIS_URL

PHONE = "+8562055561234"
PREFIX = f"lsso-test-codes-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis() -> Iterator[Redis]:
    connection = Redis.from_url(REDIS_URL)
    yield connection
    keys = list(connection.scan_iter(f"*{PREFIX}*", count=1000))
    if keys:
        connection.delete(*keys)
    connection.close()


@pytest.fixture
def settings_overrides(request) -> dict[str, object]:
    if request.node.name.startswith("test_without_redis"):
        with socket.socket() as closed:  # a port nobody listens on
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        return {"redis_url": f"redis://127.0.0.1:{port}/0", "queue_prefix": PREFIX}
    return {"redis_url": REDIS_URL, "queue_prefix": PREFIX}


def _everything_redis_holds_for(redis: Redis, job_key: bytes) -> bytes:
    """The job's hash as stored, with its compressed pickled call opened up."""
    stored = redis.hgetall(job_key)
    dump = b"".join(name + b"=" + value for name, value in stored.items())
    return dump + zlib.decompress(stored[b"data"])


def test_the_queue_holds_an_id_never_the_code_or_the_phone(app, client, sms_gateway, db, redis):
    assert client.post("/api/v1/auth/otp", json={"phone": PHONE}).status_code == 202
    queue = Queue(f"{PREFIX}-sms", connection=redis)
    (job,) = queue.get_jobs()
    otp = db.scalars(select(OtpCode)).one()
    assert job.args == (otp.id,)
    assert job.result_ttl == 0 and job.failure_ttl <= 3600
    in_redis = _everything_redis_holds_for(redis, job.key.encode() if isinstance(job.key, str) else job.key)
    assert otp.sealed_code is not None and sms_gateway.count_to(PHONE) == 0

    SimpleWorker([queue], connection=redis).work(burst=True)

    code = sms_gateway.last_code(PHONE)
    assert code.encode() not in in_redis
    assert otp.sealed_code.encode() not in in_redis
    for part in (PHONE, PHONE[4:], PHONE[-8:]):  # +856..., 20..., the last eight digits
        assert part.encode() not in in_redis, part
    assert not redis.exists(job.key)  # nothing kept once sent
    db.expire_all()
    assert db.get(OtpCode, otp.id).sealed_code is None  # the sealed copy is wiped once sent
    assert client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": code, "pin": "135790"}).status_code == 201


def test_without_redis_the_code_is_sent_in_process(app, client, sms_gateway, db):
    assert client.post("/api/v1/auth/otp", json={"phone": PHONE}).status_code == 202
    code = sms_gateway.last_code(PHONE)
    assert db.scalars(select(OtpCode.sealed_code)).one() is None
    assert client.post("/api/v1/auth/signup", json={"phone": PHONE, "code": code, "pin": "135790"}).status_code == 201


def test_a_failed_send_keeps_the_code_sealed_for_the_retry_and_an_expired_one_is_dropped(
    app, client, sms_gateway, db, redis
):
    assert client.post("/api/v1/auth/otp", json={"phone": PHONE}).status_code == 202
    queue = Queue(f"{PREFIX}-sms", connection=redis)
    sms_gateway.fail_next = 1
    SimpleWorker([queue], connection=redis).work(burst=True)  # the gateway fails: RQ schedules a retry
    otp = db.scalars(select(OtpCode)).one()
    assert sms_gateway.count_to(PHONE) == 0 and otp.sealed_code is not None
    otp.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.commit()
    send_code(otp.id)  # the retry, once the code has expired: nothing is sent, the sealed copy goes
    db.expire_all()
    assert sms_gateway.count_to(PHONE) == 0 and db.get(OtpCode, otp.id).sealed_code is None
