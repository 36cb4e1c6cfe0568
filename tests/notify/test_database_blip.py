"""A database blip costs neither a repeat nor a minute: a throwaway PostgreSQL cluster of our own (initdb +
pg_ctl on a free port, stopped at the end) restarted while a worker's FCM call is in flight. The answers
are recorded once the database is back (no device gets the notice twice, delivery completes within
seconds), and the API answers the outage with 503, an error code and Retry-After."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from lsso_mobile.migrate import upgrade
from lsso_mobile.models import Delivery, DeliveryStatus, DispatchStatus, Notification
from tests.conftest import REDIS_URL
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


@pytest.fixture
def own_postgres():
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
def settings_overrides(fcm_server, queue_prefix):
    return {
        **pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix),
        # Long enough that only a lost answer (never the relay's lease) could send a push again.
        "delivery_lease_seconds": 60,
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
