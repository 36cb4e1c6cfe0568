"""Fixtures for the push pipeline: the local FCM server, Redis with a key prefix of our own, and
real `lsso-mobile worker` processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from lsso_mobile.config import Settings, child_environ
from tests.conftest import REDIS_URL
from tests.fakes.fcm import FakeFcmServer


@pytest.fixture
def fcm_server() -> Iterator[FakeFcmServer]:
    server = FakeFcmServer().start()
    yield server
    server.stop()


@pytest.fixture
def queue_prefix() -> Iterator[str]:
    prefix = f"lsso-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = list(redis.scan_iter(f"*{prefix}*", count=1000))
        if keys:
            redis.delete(*keys)
    finally:
        redis.close()


def pipeline_overrides(fcm_url: str, redis_url: str, prefix: str) -> dict[str, object]:
    return {
        "redis_url": redis_url,
        "queue_prefix": prefix,
        "push_backend": "fcm",
        "fcm_endpoint": fcm_url,
        "fcm_project_id": "lsso-test",
        "fcm_http_timeout": 10.0,
        "relay_grace_seconds": 1,
        "relay_interval_seconds": 1,
        "delivery_lease_seconds": 3,
        "push_retry_base_seconds": 1,
    }


class Workers:
    """Starts `lsso-mobile worker` processes and stops (or kills) only those it started."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(self, settings: Settings | None = None, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        env = child_environ(settings or self.settings)
        env.update(extra_env or {})
        log = (self.log_dir / f"worker-{len(self.processes)}.log").open("wb")
        # Its own process group: RQ's scheduler runs in a child process, which must go with the worker.
        process = subprocess.Popen(
            [sys.executable, "-m", "lsso_mobile.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """SIGKILL the worker and its scheduler child, as a machine that dies would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            self.kill(process)  # whatever is left of the group (a killed worker's scheduler child)


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    pool = Workers(settings, tmp_path)
    yield pool
    pool.stop_all()
