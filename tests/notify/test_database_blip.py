"""A database blip costs neither a repeat nor a minute: a throwaway PostgreSQL cluster of our own (initdb +
pg_ctl on a free port, stopped at the end) restarted while a worker's FCM call is in flight. The answers
are recorded once the database is back (no device gets the notice twice, delivery completes within
seconds), and the API answers the outage with 503, an error code and Retry-After. Jobs taken from the queue
while the database is away run again a moment later (not after the relay's grace or a lease): they finish
within seconds of its return, and nothing is pushed twice."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, func, select, text

from lsso_mobile import runtime
from lsso_mobile.jobs import DATABASE_RETRY_SECONDS, JOB_QUEUE_KEY, JobQueue, JobRequest
from lsso_mobile.migrate import upgrade
from lsso_mobile.models import (
    Broadcast,
    BroadcastSlice,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    DispatchStatus,
    Notification,
    SliceStatus,
    StaffRole,
    utcnow,
)
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.services import broadcasts
from lsso_mobile.services.accounts import Principal, create_staff_user
from lsso_mobile.services.audience import Audience
from lsso_mobile.services.broadcast_delivery import slice_job
from lsso_mobile.worker import scheduler_lock_key
from tests.conftest import REDIS_URL, STAFF_PASSWORD
from tests.notify.conftest import pipeline_overrides
from tests.support import make_member_with_devices, notify, wait_until

pytestmark = pytest.mark.slow

TOKENS = [f"tok-db-blip-{i}-0123456789" for i in range(3)]


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory on a free port; only this test starts and stops it."""

    def __init__(self) -> None:
        # Not under pytest's directory: PostgreSQL runs as its own user, who cannot enter root's private /tmp
        # tree. A directory of its own, removed by remove().
        root = Path(tempfile.mkdtemp(prefix="lsso-test-pg-"))
        self.root = root
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            binary = shutil.which("initdb")
            assert binary, "initdb (PostgreSQL's server package) is needed for this test"
            found = [binary]
        self.bin = Path(found[-1]).parent
        self.data = root / "pgdata"
        self.log = root / "postgres.log"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.as_postgres = os.geteuid() == 0  # PostgreSQL refuses to run as root
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args[0]} failed: {done.stderr[-1500:]}"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/lsso"

    def init_and_start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("CREATE DATABASE lsso"))
        engine.dispose()
        upgrade(self.url)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def own_postgres():
    """One cluster for the module (initdb and the migrations take about 12 s here); each test's app empties
    its tables first, and each test that stops the server starts it again before it ends."""
    server = ThrowawayPostgres()
    try:
        server.init_and_start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def database_url(own_postgres):
    """The app, the workers and this test's own session all use the throwaway cluster."""
    return own_postgres.url


@pytest.fixture
def settings_overrides(request, fcm_server, queue_prefix):
    return {
        **pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix),
        # Long enough that only a lost answer (never the relay's lease) could send a push again.
        "delivery_lease_seconds": 60,
        **getattr(request, "param", {}),
    }


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_database_outage_across_a_push_call_costs_no_repeat_and_no_minute(
    mode, own_postgres, app, client, db, fcm_server, workers
):
    """The database goes away while the call is with FCM and comes back after FCM answered: the worker
    records the answers once it is back (it does not leave them to the lease and the relay)."""
    worker = workers.start()
    member_id = make_member_with_devices(db, "+8562055588101", TOKENS)
    db.commit()
    fcm_server.hold(set(TOKENS), 2.0)  # the call is with FCM while the database stops
    notification_id = notify(member_id)
    wait_until(lambda: all(fcm_server.attempts(t) for t in TOKENS), timeout=20, message="the call in flight")
    own_postgres.stop(mode)
    try:
        wait_until(lambda: fcm_server.accepted_count() == len(TOKENS), timeout=20, message="FCM's answers")
        time.sleep(1.5)  # the worker holds answers it cannot record yet
    finally:
        own_postgres.start()
    back_at = time.monotonic()

    def delivered() -> bool:
        try:
            db.rollback()
            statuses = set(db.scalars(select(Delivery.status).where(Delivery.notification_id == notification_id)))
            return statuses == {DeliveryStatus.SENT} and (
                db.get(Notification, notification_id).dispatch_status is DispatchStatus.DONE
            )
        except Exception:  # noqa: BLE001 - this test's own connection died with the restart too
            db.rollback()
            return False

    wait_until(delivered, timeout=20, message="the answers recorded and the notice done")
    assert time.monotonic() - back_at < 10
    time.sleep(3)  # three relay rounds: nothing is sent again
    assert fcm_server.counts_by_token() == dict.fromkeys(TOKENS, 1)
    assert worker.poll() is None
    assert "database unavailable while recording push answers" in workers.logs()


def test_the_api_answers_a_database_outage_with_503_and_retry_after(own_postgres, app, client, caplog):
    assert client.get("/api/v1/provinces").status_code == 200
    own_postgres.stop("immediate")
    try:
        answers = [client.get("/api/v1/provinces") for _ in range(3)]
    finally:
        own_postgres.start()
    for answer in answers:
        assert answer.status_code == 503, answer.json
        assert answer.json["error"] == "database_unavailable" and answer.headers["Retry-After"] == "5"
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("lsso_mobile.api")]  # no traceback
    wait_until(lambda: client.get("/api/v1/provinces").status_code == 200, timeout=10, message="the API back")


class Recorder(JobQueue):
    """Keeps the jobs a unit of work asks for, to hand them to the real queue while the database is away."""

    def __init__(self) -> None:
        self.requests: list[JobRequest] = []

    def submit_many(self, requests: list[JobRequest]) -> None:
        self.requests += requests

    def submit(self, request: JobRequest) -> None:
        self.requests.append(request)


# Only the jobs' own retries can deliver in time: the relay waits five minutes, a lease lasts one.
RELAY_OUT_OF_REACH = {"relay_grace_seconds": 300, "relay_interval_seconds": 300, "broadcast_slice_devices": 2}
PERSONAL = [f"tok-db-retry-a-{i}-0123456789" for i in range(2)]
OTHERS = [f"tok-db-retry-b-{i}-0123456789" for i in range(2)]


def _jobs_for_two_notices_and_a_broadcast(settings, member_id: int) -> list[JobRequest]:
    """Two notices (their ids go to the push ready list and a drain job) and a broadcast cut into two slices
    (a slice job each): committed now, their jobs kept back."""
    rt = runtime.current()
    recorder = Recorder()
    now = utcnow()
    with rt.db.unit_of_work() as session:
        session.info[JOB_QUEUE_KEY] = recorder
        for template in ("registration_approved", "registration_received"):
            values = {"application_id": 1, "member_number": "0100000001", "reason": "r"}
            values |= {"office_name_lo": "ຫ້ອງການ", "office_name_en": "Office"}
            record_notification(session, member_id, template, values, now, collapse_key=f"retry-{template}")
        author = create_staff_user(session, settings, "ops.author", STAFF_PASSWORD, StaffRole.OPS, "A", None)
        approver = create_staff_user(session, settings, "ops.approver", STAFF_PASSWORD, StaffRole.OPS, "B", None)
        draft = broadcasts.BroadcastDraft(
            "ແຈ້ງການ", "ອັດຕາໃໝ່", "Notice", "New rate", "news", False, Audience(), None, now + timedelta(days=1)
        )
        broadcast = broadcasts.create_broadcast(session, Principal("staff", author.id, "ops", None, "s"), draft, now)
        broadcasts.submit_for_approval(session, Principal("staff", author.id, "ops", None, "s"), broadcast.id, now)
        broadcasts.approve(session, Principal("staff", approver.id, "ops", None, "s"), broadcast.id, now)
    with rt.db.unit_of_work() as session:  # what the start job does, its slice jobs kept back too
        session.info[JOB_QUEUE_KEY] = recorder
        started = broadcasts.get_broadcast(session, broadcast.id, lock=True)
        slices = broadcasts.start_broadcast(session, started, utcnow(), settings.broadcast_slice_devices)
    assert len(slices) == 2
    personal = [r for r in recorder.requests if r.name == "deliver_notification"]
    assert len(personal) == 2
    return personal + [slice_job(slice_id) for slice_id in slices]


def _worker_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:  # noqa: S310
        return answer.read().decode()


@pytest.mark.parametrize("settings_overrides", [RELAY_OUT_OF_REACH], indirect=True)
def test_jobs_taken_during_an_outage_run_again_within_seconds_of_its_end(
    own_postgres, app, db, settings, queue_prefix, fcm_server, workers
):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    worker = workers.start(settings.replace(worker_metrics_port=metrics_port))
    member_id = make_member_with_devices(db, "+8562055588102", PERSONAL)
    make_member_with_devices(db, "+8562055588103", OTHERS)
    db.commit()
    jobs = _jobs_for_two_notices_and_a_broadcast(settings, member_id)
    redis = Redis.from_url(REDIS_URL)
    wait_until(lambda: redis.get(scheduler_lock_key(queue_prefix)), timeout=20, message="the worker ready")
    redis.close()

    own_postgres.stop("immediate")
    try:
        runtime.current().job_queue.submit_many(jobs)  # a drain job for the two notices, two slice jobs
        wait_until(
            lambda: workers.logs().count("database unavailable in job") >= 3, timeout=20, message="three jobs failed"
        )
        second_try = f"(2 of {len(DATABASE_RETRY_SECONDS)})"
        wait_until(lambda: second_try in workers.logs(), timeout=10, message="a retry that met the outage too")
    finally:
        own_postgres.start()
    back_at = time.monotonic()
    expected = dict.fromkeys(PERSONAL, 3) | dict.fromkeys(OTHERS, 1)  # two notices + the broadcast; the broadcast
    wait_until(lambda: fcm_server.counts_by_token() == expected, timeout=30, message="every push after the outage")
    delivered_after = time.monotonic() - back_at
    assert delivered_after < 10, delivered_after  # the next retry (1, 2, 4, 8 s apart), not the relay's 5 minutes

    time.sleep(2)  # room for a repeat to show up
    assert fcm_server.counts_by_token() == expected
    assert worker.poll() is None
    try:
        db.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - this test's own connection died with the restart
        db.rollback()
    assert set(db.scalars(select(Notification.dispatch_status))) == {DispatchStatus.DONE}
    assert set(db.scalars(select(Delivery.status))) == {DeliveryStatus.SENT}
    slices = db.scalars(select(BroadcastSlice).order_by(BroadcastSlice.id)).all()
    assert [(s.status, s.runs) for s in slices] == [(SliceStatus.DONE, 1)] * 2  # each claimed once, by the retry
    assert db.scalar(select(func.count()).select_from(Broadcast).where(Broadcast.status == BroadcastStatus.SENT)) == 1
    logs = workers.logs()
    assert "id(s) handed back to the ready list" in logs
    retried = [
        line
        for line in _worker_metrics(metrics_port).splitlines()
        if line.startswith("lsso_jobs_total{") and 'outcome="database_retry"' in line
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in retried) >= 3, retried
