"""Shared pieces of the benchmarks: a throwaway PostgreSQL database, the fake FCM server in its own
process, worker processes, and percentiles. Every benchmark prints one JSON object on its last line
(``finish``) and exits non-zero when the run was not correct (a request unanswered, a duplicate, a miss);
missing a performance target is reported in the JSON, never as a failure.

Benchmarks observe outcomes (database rows, API answers, pushes at the FCM server), never queues: every
unit of work already hands its after-commit jobs to the runtime's queue.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def finish(result: dict[str, Any], problems: list[str]) -> NoReturn:
    """Print the figures as the last line; exit 1 when the run was not correct (``problems`` says why)."""
    result["problems"] = problems
    result["correct"] = not problems
    print(json.dumps(result), flush=True)
    sys.exit(1 if problems else 0)


def nonzero(result: dict[str, Any], *keys: str) -> list[str]:
    """A problem for each of ``keys`` whose count in ``result`` is not zero."""
    return [f"{key}: {result[key]}" for key in keys if result[key] != 0]


def wait_http(port: int, path: str = "/api/v1/provinces", timeout: float = 180) -> None:
    """Until the server on ``port`` answers 200 (a busy machine starts gunicorn's workers slowly)."""
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database, migrated; dropped afterwards."""
    from tests.scratch_db import scratch_postgres_database

    with scratch_postgres_database(POSTGRES_ADMIN_URL, prefix) as url:
        yield url


class FakeFcmProcess:
    """The local FCM server in its own process, so it does not share a GIL with what it measures."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.fcm", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.counts()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("fake FCM server did not start")

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:  # noqa: S310 - loopback only
            return json.loads(response.read())

    def counts(self) -> dict[str, Any]:
        return self._get("/_control/counts")

    def total(self) -> int:
        """Accepted so far; cheap, unlike counts(), so polling it does not load the server."""
        return self._get("/_control/total")["total"]

    def receipts(self) -> list[tuple[float, str]]:
        return [tuple(r) for r in self._get("/_control/receipts")["receipts"]]

    def reset(self) -> None:
        request = urllib.request.Request(self.url + "/_control/reset", data=b"{}", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def worker_env(settings: Any) -> dict[str, str]:
    from lsso_mobile.config import child_environ

    env = child_environ(settings)
    env["LSSO_LOG_LEVEL"] = "WARNING"
    return env


def start_worker(settings: Any, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lsso_mobile.cli", "worker"],
        env=worker_env(settings),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clear_redis_prefix(redis_url: str, prefix: str) -> None:
    from redis import Redis

    redis = Redis.from_url(redis_url)
    keys = list(redis.scan_iter(f"*{prefix}*", count=1000))
    if keys:
        redis.delete(*keys)
    redis.close()


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a running process, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, elapsed) CPU seconds summed over every core since boot (Linux /proc/stat; iowait counts as idle)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / ticks, sum(values) / ticks


class CpuAccount:
    """Where the machine's CPU went while something ran: how busy all its cores were, and the CPU of named
    processes per item (the rest of the busy time is everyone else: PostgreSQL, Redis, the bench, the OS)."""

    def __init__(self, **pids: list[int]) -> None:
        self.pids = pids
        self.machine = machine_cpu_seconds()
        self.processes = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}

    def per_item(self, items: int) -> dict[str, float]:
        busy, elapsed = machine_cpu_seconds()
        busy -= self.machine[0]
        figures: dict[str, float] = {"machine_busy_share": round(busy / max(elapsed - self.machine[1], 1e-9), 3)}
        named = 0.0
        for name, group in self.pids.items():
            used = sum(cpu_seconds(pid) for pid in group) - self.processes[name]
            named += used
            figures[f"{name}_cpu_ms_per_item"] = round(used * 1000 / items, 3)
        figures["rest_cpu_ms_per_item"] = round((busy - named) * 1000 / items, 3)
        return figures
