"""The service as production runs it, for the contract gate: gunicorn, PostgreSQL (or SQLite), Redis, a worker.

Pushes go through the real firebase-admin SDK to the local FCM-compatible server; SMS codes go to the log.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from lsso_mobile.config import child_environ
from lsso_mobile.services.tokens import generate_private_key_pem
from tests.fakes.fcm import FakeFcmServer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# The contract run checks the document, not the abuse limits (tests/api/test_rate_limits.py and the
# limit tests do): budgets are raised so that most generated requests reach the code behind them.
CONTRACT_LIMITS = {
    "writes_per_minute": 1_000_000,
    "core_writes_per_minute": 1_000_000,
    "anonymous_writes_per_minute": 1_000_000,
    "login_max_failures": 1_000_000,
    "login_failures_per_ip": 1_000_000,
    "messages_per_minute": 1_000,
}


@dataclass(frozen=True)
class Service:
    base_url: str
    environ: dict[str, str]
    log_dir: Path


def listening_socket() -> socket.socket:
    """A socket already bound to a free port, handed to gunicorn (``fd://``): no other run can take the port
    between choosing it and binding it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def service_environ(
    database_url: str, redis_url: str, work_dir: Path, fcm_url: str, **overrides: object
) -> dict[str, str]:
    from lsso_mobile.config import load_settings

    key_file = work_dir / "jwt.pem"
    key_file.write_bytes(generate_private_key_pem())
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "queue_prefix": f"contract-{uuid.uuid4().hex[:8]}",
        "instance_dir": str(work_dir / "instance"),
        "secret_key": "contract-secret-key-with-enough-length-0123456789",
        "jwt_private_key_file": str(key_file),
        "password_hashing": "fast",
        "sms_backend": "log",
        "push_backend": "fcm",
        "fcm_endpoint": fcm_url,
        "fcm_project_id": "lsso-contract",
        "attachment_dir": str(work_dir / "attachments"),
        "log_level": "WARNING",
        **CONTRACT_LIMITS,
    }
    settings = load_settings(environ={}, **{**values, **overrides})
    return child_environ(settings)


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            if requests.get(f"{url}/api/v1/health", timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy within {timeout} s")


@contextmanager
def _process(
    args: list[str], environ: dict[str, str], log: Path, pass_fds: tuple[int, ...] = ()
) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, env=environ, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, pass_fds=pass_fds
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def running_service(
    database_url: str,
    redis_url: str,
    work_dir: Path,
    wsgi: str = "wsgi:app",
    gunicorn_workers: int = 2,
    seed_demo: bool = True,
    settings_overrides: dict[str, object] | None = None,
) -> Iterator[Service]:
    """Migrated database (the caller's), demo data, a worker and gunicorn; stopped on exit."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        fcm = stack.enter_context(FakeFcmServer())
        environ = service_environ(database_url, redis_url, work_dir, fcm.url, **(settings_overrides or {}))
        subprocess.run(
            [str(BIN / "lsso-mobile"), "migrate"], env=environ, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        if seed_demo:
            subprocess.run(
                [str(BIN / "lsso-mobile"), "seed-demo"], env=environ, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
            )
        stack.enter_context(_process([str(BIN / "lsso-mobile"), "worker"], environ, work_dir / "worker.log"))
        sock = stack.enter_context(listening_socket())
        gunicorn = stack.enter_context(
            _process(
                [
                    str(BIN / "gunicorn"),
                    "--workers",
                    str(gunicorn_workers),
                    "--bind",
                    f"fd://{sock.fileno()}",
                    "--timeout",
                    "60",
                    wsgi,
                ],
                environ,
                work_dir / "gunicorn.log",
                pass_fds=(sock.fileno(),),
            )
        )
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        _wait_healthy(base_url, gunicorn)
        yield Service(base_url=base_url, environ=environ, log_dir=work_dir)
