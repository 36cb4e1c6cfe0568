"""The whole push pipeline with real parts: HTTP request -> outbox row -> Redis/RQ -> `lsso-mobile
worker` processes -> firebase-admin SDK -> local FCM server. Counted at the FCM server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from sqlalchemy import func, select

from lsso_mobile import runtime
from lsso_mobile.models import Delivery, DeliveryStatus, DispatchStatus, Notification, StaffRole, utcnow
from lsso_mobile.notify.outbox import delivery_job
from lsso_mobile.services import registrations
from lsso_mobile.services.accounts import create_staff_user
from lsso_mobile.services.registrations import ApplicationForm
from tests.conftest import REDIS_URL, STAFF_PASSWORD, office_id
from tests.notify.conftest import pipeline_overrides
from tests.support import application_form, bearer, make_member_with_devices, notify, sign_up, staff_sign_in, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def settings_overrides(fcm_server, queue_prefix):
    return pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix)


def _queues_idle(prefix: str) -> bool:
    rt = runtime.current()
    redis = rt.job_queue.connection()
    return (
        all(redis.llen(f"rq:queue:{prefix}-{name}") == 0 for name in ("push", "sms"))
        and redis.zcard(f"rq:wip:{prefix}-push") == 0
    )


def test_staff_decision_reaches_both_devices_exactly_once(
    app, client, sms_gateway, staff, db, fcm_server, workers, queue_prefix
):
    workers.start()
    member = bearer(sign_up(client, sms_gateway, "+8562055570001", language="en")["access_token"])
    for token, platform in (("tok-phone-a-0123456789", "android"), ("tok-phone-b-0123456789", "ios")):
        registered = client.post(
            "/api/v1/me/devices", json={"token": token, "platform": platform, "app_version": "1.0.0"}, headers=member
        )
        assert registered.status_code == 201
    application_id = client.post("/api/v1/me/registration", json=application_form(), headers=member).json["id"]
    wait_until(lambda: fcm_server.accepted_count() == 2, message="the 'application received' pushes")
    officer = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    decided = client.post(
        f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=officer
    )
    assert decided.status_code == 200
    wait_until(lambda: fcm_server.accepted_count() == 4, message="the decision pushes", timeout=20)
    for token in ("tok-phone-a-0123456789", "tok-phone-b-0123456789"):
        templates = [m["data"]["template"] for m in fcm_server.accepted(token)]
        assert templates == ["registration_received", "registration_approved"]
        assert fcm_server.accepted(token)[1]["notification"]["title"] == "Your social security registration is approved"

    # a duplicated job and a relay pass do not push again
    approved_id = db.scalar(select(Notification.id).where(Notification.template == "registration_approved"))
    runtime.current().job_queue.submit(delivery_job(approved_id))
    runtime.current().job_queue.submit(delivery_job(approved_id))
    time.sleep(2.5)  # two relay intervals
    wait_until(lambda: _queues_idle(queue_prefix), message="idle queues")
    assert fcm_server.counts_by_token() == {"tok-phone-a-0123456789": 2, "tok-phone-b-0123456789": 2}
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Delivery)) == 4
    assert db.get(Notification, approved_id).dispatch_status is DispatchStatus.DONE


def test_sms_gateway_failures_are_retried_by_the_queue(app, client, sms_gateway, workers):
    """A code whose SMS failed is sent again by RQ's retry, without the code ever being in an error."""
    workers.start()
    sms_gateway.fail_next = 1
    assert client.post("/api/v1/auth/otp", json={"phone": "+8562055570009"}).status_code == 202
    wait_until(lambda: sms_gateway.count_to("+8562055570009") == 1, timeout=20, message="the retried SMS")
    code = sms_gateway.last_code("+8562055570009")
    assert code not in workers.logs()


# -- Redis down ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayRedis:
    """A redis-server of our own on a free port, which this test may stop and start."""

    def __init__(self, tmp_path) -> None:
        self.port = _free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._up, timeout=10, message="redis-server to start")

    def _up(self) -> bool:
        try:
            return Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
        except Exception:  # noqa: BLE001
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def throwaway_redis(tmp_path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_down_request_succeeds_and_push_arrives_after_redis_returns(
    settings, throwaway_redis, fcm_server, workers, db_for_settings
):
    rt_settings = settings.replace(redis_url=throwaway_redis.url)
    app, client, db = db_for_settings(rt_settings)
    with runtime.current().db.unit_of_work() as session:
        member_id = make_member_with_devices(session, "+8562055570002", ["tok-redis-down"])
        application = registrations.submit_application(session, member_id, ApplicationForm(**_form()), utcnow())
        create_staff_user(
            session, rt_settings, "officer.redis", STAFF_PASSWORD, StaffRole.OFFICER, "o", office_id(session, "D0101")
        )
        application_id = application.id
    throwaway_redis.stop()
    officer = bearer(staff_sign_in(client, "officer.redis", STAFF_PASSWORD)["access_token"])
    decided = client.post(
        f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=officer
    )
    assert decided.status_code == 200  # Redis is down; the request does not need it
    assert client.get("/api/v1/health").status_code == 503
    assert fcm_server.counts_by_token() == {}
    throwaway_redis.start()  # back, and empty: the job enqueued before was never stored
    workers.start(rt_settings)
    wait_until(lambda: fcm_server.accepted_count() == 2, timeout=20, message="the relay to deliver")
    templates = sorted(m["data"]["template"] for m in fcm_server.accepted("tok-redis-down"))
    assert templates == ["registration_approved", "registration_received"]


def _form() -> dict:
    from datetime import date

    from lsso_mobile.models import Scheme, Sex

    body = application_form()
    body["date_of_birth"] = date.fromisoformat(body["date_of_birth"])
    body["sex"], body["scheme"] = Sex(body["sex"]), Scheme(body["scheme"])
    return body


@pytest.fixture
def db_for_settings(database_url):
    """Build the app for settings chosen inside the test (here: a Redis of the test's own)."""
    made = []

    def build(settings):
        from lsso_mobile import create_app
        from lsso_mobile.services.reference import SAMPLE_AREAS_CSV, import_areas_file
        from tests.conftest import clean_database

        clean_database(settings.database_url)
        app = create_app(settings)
        app.config["TESTING"] = True
        rt = runtime.current()
        with rt.db.unit_of_work() as session:
            import_areas_file(session, SAMPLE_AREAS_CSV)
        made.append(rt)
        return app, app.test_client(), rt.db.session_factory()

    yield build
    for rt in made:
        rt.close()


# -- a worker killed in the middle of a send ---------------------------------------------------------


@pytest.fixture
def many_devices_overrides(settings_overrides):
    return settings_overrides


def test_worker_killed_mid_send_leaves_every_device_with_exactly_one_push(app, db, fcm_server, workers):
    tokens = [f"tok-kill-{i:04d}" for i in range(1000)]
    member_id = make_member_with_devices(db, "+8562055570003", tokens)
    second_batch = set(tokens[500:])
    fcm_server.hold(second_batch, 3.0)  # the first 500 are answered; the next call hangs

    victim = workers.start()
    notification_id = notify(member_id)
    wait_until(
        lambda: fcm_server.accepted_count() == 500 and any(fcm_server.attempts(t) for t in second_batch),
        timeout=30,
        message="the worker to be inside its second send_each call",
    )
    workers.kill(victim)
    fcm_server.clear_rules()  # FCM is healthy again; the held requests die with their client
    assert fcm_server.accepted_count() == 500

    workers.start()  # recovery: the relay finds the notification, the lease frees the dead worker's claims
    wait_until(lambda: fcm_server.accepted_count() >= 1000, timeout=40, message="recovery to finish the send")
    time.sleep(2.5)  # give any duplicate a chance to show up
    counts = fcm_server.counts_by_token()
    assert len(counts) == 1000 and set(counts.values()) == {1}
    db.expire_all()
    sent = db.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.notification_id == notification_id, Delivery.status == DeliveryStatus.SENT)
    )
    assert sent == 1000
    assert db.get(Notification, notification_id).dispatch_status is DispatchStatus.DONE
