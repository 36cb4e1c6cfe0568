"""Members and officers exchanging messages at the same time, under gunicorn on PostgreSQL + Redis, with
a `lsso-mobile worker` process pushing staff replies to the local FCM server (its own process).

    python bench/messaging.py [--members N] [--officers M] [--seconds S] [--think T] [--gunicorn-workers W]

Members (signed in through the API, one device each) start one conversation and then keep writing in it,
and sometimes send a message twice with the same idempotency key (a retry on a bad connection) and
re-read their list and thread; officers poll their office's open conversations, read a thread, and
answer it (now and then with an internal note first). Each client waits about ``--think`` seconds
between actions. Counted: requests/s, latency, errors (any unexpected status), messages the clients
had accepted vs messages in the database, staff replies vs pushes the FCM server received (after the
queue drains). Default preferences (no quiet hours, nothing muted), so every reply is one push.
The last line is JSON; the exit status is 1 when a request failed, a message or a push is missing or
repeated, or a retry was not answered as a replay (targets are only reported). The default run takes
about 3 minutes (120 s of load, plus setup and the push drain).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select  # noqa: E402

from bench.common import (  # noqa: E402
    REDIS_URL,
    ROOT,
    FakeFcmProcess,
    clear_redis_prefix,
    cpu_seconds,
    finish,
    free_port,
    nonzero,
    percentile,
    start_worker,
    stop_process,
    throwaway_database,
    wait_http,
    worker_env,
)

PIN = "135790"
STAFF_PASSWORD = "bench-office-password"


class Client:
    """One keep-alive HTTP connection; records latency and unexpected statuses of every request."""

    def __init__(self, port: int, stats: Stats) -> None:
        self.port = port
        self.stats = stats
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers: dict[str, str] = {}

    def call(self, method: str, path: str, body: object = None, expect: tuple[int, ...] = (200,)) -> tuple[int, dict]:
        payload = None if body is None else json.dumps(body)
        headers = dict(self.headers, **({"Content-Type": "application/json"} if payload else {}))
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            raw = response.read()
            status = response.status
            replayed = response.getheader("Idempotent-Replayed") == "true"
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.stats.record(method, path, (time.perf_counter() - started) * 1000, False, f"{type(exc).__name__}")
            return 0, {}
        self.stats.record(method, path, (time.perf_counter() - started) * 1000, status in expect, str(status))
        answer = (
            json.loads(raw) if raw and response.getheader("Content-Type", "").startswith("application/json") else {}
        )
        answer["_replayed"] = replayed
        return status, answer


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.by_route: dict[str, list[float]] = {}

    def record(self, method: str, path: str, ms: float, ok: bool, status: str) -> None:
        route = method + " " + re.sub(r"/[0-9]+", "/{id}", path.split("?")[0])
        with self.lock:
            self.latencies.append(ms)
            self.by_route.setdefault(route, []).append(ms)
            if not ok:
                self.errors[f"{method} {path.split('?')[0]} -> {status}"] += 1

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n


def sign_in_members(port: int, phones: list[str], stats: Stats) -> list[str]:
    tokens: list[str | None] = [None] * len(phones)

    def work(indexes: list[int]) -> None:
        client = Client(port, stats)
        for i in indexes:
            status, body = client.call("POST", "/api/v1/auth/login", {"phone": phones[i], "pin": PIN})
            tokens[i] = body.get("access_token") if status == 200 else None

    chunks = [list(range(len(phones)))[k::16] for k in range(16)]
    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    missing = sum(t is None for t in tokens)
    if missing:
        raise SystemExit(f"{missing} members could not sign in")
    return tokens  # type: ignore[return-value]


def _pause(rng: random.Random, think: float, deadline: float) -> None:
    """A person's pause between actions (exponential, mean ``think``), never past the end of the run."""
    time.sleep(max(0.0, min(rng.expovariate(1 / think), deadline - time.monotonic())))


def member_loop(
    port: int, token: str, office_code: str, device: str, stats: Stats, deadline: float, think: float, seed: int
) -> None:
    rng = random.Random(seed)
    client = Client(port, stats)
    client.headers = {"Authorization": f"Bearer {token}"}
    client.call(
        "POST", "/api/v1/me/devices", {"token": device, "platform": "android", "app_version": "1.0"}, expect=(200, 201)
    )
    conversation_id = None
    time.sleep(rng.uniform(0, think))
    while time.monotonic() < deadline:
        key = str(uuid.uuid4())
        if conversation_id is None:
            body = {
                "office_code": office_code,
                "category": rng.choice(["contributions", "claims", "other"]),
                "subject": "ຄຳຖາມກ່ຽວກັບເງິນສົມທົບ",
                "body": f"ສະບາຍດີ, question {rng.random():.6f}",
                "idempotency_key": key,
            }
            path = "/api/v1/conversations"
        else:
            body = {"body": f"More about it: {rng.random():.6f}", "idempotency_key": key}
            path = f"/api/v1/conversations/{conversation_id}/messages"
        status, answer = client.call("POST", path, body, expect=(201,))
        if status == 201:
            conversation_id = answer["conversation"]["id"]
            stats.count("member_messages_accepted")
            if rng.random() < 0.1:  # the app did not see the answer and sends again with the same key
                again, retry = client.call("POST", path, body, expect=(201,))
                stats.count("member_retries")
                if again == 201 and (not retry["_replayed"] or retry["message"]["id"] != answer["message"]["id"]):
                    stats.count("retry_mismatch")
        _pause(rng, think, deadline)
        if conversation_id is not None and rng.random() < 0.5:
            client.call("GET", "/api/v1/conversations?limit=20")
            client.call("GET", f"/api/v1/conversations/{conversation_id}/messages?limit=20")
            client.call("POST", f"/api/v1/conversations/{conversation_id}/read")
            _pause(rng, think, deadline)


def officer_loop(port: int, token: str, stats: Stats, deadline: float, think: float, seed: int) -> None:
    rng = random.Random(seed)
    client = Client(port, stats)
    client.headers = {"Authorization": f"Bearer {token}"}
    time.sleep(rng.uniform(0, think))
    while time.monotonic() < deadline:
        status, inbox = client.call("GET", "/api/v1/staff/conversations?status=open&limit=20")
        items = inbox.get("items", []) if status == 200 else []
        if not items:
            _pause(rng, think, deadline)
            continue
        conversation = rng.choice(items)
        cid = conversation["id"]
        client.call("GET", f"/api/v1/staff/conversations/{cid}/messages?limit=20")
        if rng.random() < 0.1:
            status, _ = client.call(
                "POST",
                f"/api/v1/staff/conversations/{cid}/notes",
                {"body": "Checked with the employer", "idempotency_key": str(uuid.uuid4())},
                expect=(201,),
            )
            if status == 201:
                stats.count("staff_notes")
        status, answer = client.call(
            "POST",
            f"/api/v1/staff/conversations/{cid}/replies",
            {"body": "ພວກເຮົາໄດ້ກວດສອບແລ້ວ / We checked it.", "idempotency_key": str(uuid.uuid4())},
            expect=(201,),
        )
        if status == 201:
            stats.count("staff_replies")
        _pause(rng, think, deadline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--officers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds between a client's actions")
    parser.add_argument("--offices", type=int, default=0, help="offices used (default: one per 5 officers)")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    args = parser.parse_args()

    from lsso_mobile.config import load_settings
    from lsso_mobile.models import Member, Message, Office, StaffRole, utcnow
    from lsso_mobile.services.accounts import create_staff_user
    from lsso_mobile.services.secrets_hashing import hash_secret
    from lsso_mobile.services.tokens import generate_private_key_pem

    offices_used = args.offices or max(1, args.officers // 5)
    workdir = Path(tempfile.mkdtemp(prefix="lsso-bench-msg-"))
    key_file = workdir / "jwt.pem"
    key_file.write_bytes(generate_private_key_pem())
    prefix = f"lsso-bench-{uuid.uuid4().hex[:8]}"
    fcm = FakeFcmProcess()
    result: dict = {
        "benchmark": "messaging",
        "members": args.members,
        "officers": args.officers,
        "offices": offices_used,
        "seconds": args.seconds,
        "think_seconds": args.think,
        "gunicorn_workers": args.gunicorn_workers,
    }
    stats = Stats()
    try:
        with throwaway_database("lsso_bench_msg") as database_url:
            settings = load_settings(
                environ={},
                env="test",
                database_url=database_url,
                instance_dir=str(workdir),
                jwt_private_key_file=str(key_file),
                log_level="WARNING",
                password_hashing="fast",
                redis_url=REDIS_URL,
                queue_prefix=prefix,
                push_backend="fcm",
                fcm_endpoint=fcm.url,
                fcm_project_id="lsso-bench",
                fcm_http_timeout=30.0,
                attachment_dir=str(workdir / "files"),
                # a load test, not a test of the per-member limit: members write faster than people do
                messages_per_minute=1000,
                access_token_minutes=max(15, int(args.seconds / 60) + 10),
            )
            engine = create_engine(database_url)
            from sqlalchemy.orm import Session

            with Session(engine) as session:
                offices = list(session.scalars(select(Office).order_by(Office.code).limit(offices_used)))
                now = utcnow()
                pin_hash = hash_secret(PIN, "fast")
                phones = [f"+85620{7000000 + i:08d}" for i in range(args.members)]
                session.add_all(
                    [
                        Member(
                            phone=p,
                            pin_hash=pin_hash,
                            created_at=now,
                            updated_at=now,
                            office_id=offices[i % len(offices)].id,
                        )
                        for i, p in enumerate(phones)
                    ]
                )
                for j in range(args.officers):
                    create_staff_user(
                        session,
                        settings,
                        f"officer{j}",
                        STAFF_PASSWORD,
                        StaffRole.OFFICER,
                        f"Officer {j}",
                        offices[j % len(offices)].id,
                    )
                session.commit()
                office_codes = [o.code for o in offices]

            port = free_port()
            server = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "-w",
                    str(args.gunicorn_workers),
                    "-k",
                    "gthread",
                    "--threads",
                    "8",
                    "--keep-alive",
                    "300",  # connections outlive the clients' pauses
                    "-b",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                    "wsgi:app",
                ],
                env=worker_env(settings),
                cwd=ROOT,
                stdout=(workdir / "gunicorn.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            worker = start_worker(settings, workdir / "worker.log")
            try:
                wait_http(port)
                member_tokens = sign_in_members(port, phones, stats)
                officer_tokens = []
                login = Client(port, stats)
                for j in range(args.officers):
                    status, body = login.call(
                        "POST", "/api/v1/auth/staff/login", {"username": f"officer{j}", "password": STAFF_PASSWORD}
                    )
                    officer_tokens.append(body["access_token"])
                stats.latencies.clear()  # sign-in is not what is measured
                stats.by_route.clear()

                deadline = time.monotonic() + args.seconds
                threads = [
                    threading.Thread(
                        target=member_loop,
                        args=(
                            port,
                            token,
                            office_codes[i % len(office_codes)],
                            f"bench-device-{i:06d}-token",
                            stats,
                            deadline,
                            args.think,
                            i,
                        ),
                    )
                    for i, token in enumerate(member_tokens)
                ]
                threads += [
                    threading.Thread(target=officer_loop, args=(port, token, stats, deadline, args.think, 10_000 + j))
                    for j, token in enumerate(officer_tokens)
                ]
                cpu_before = _tree_cpu(server.pid), cpu_seconds(worker.pid), time.process_time()
                load_before = os.getloadavg()[0]
                started = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - started
                cpu_after = _tree_cpu(server.pid), cpu_seconds(worker.pid), time.process_time()
                load_after = os.getloadavg()[0]

                replies = stats.counts["staff_replies"]
                drain_started = time.monotonic()
                while fcm.total() < replies and time.monotonic() - drain_started < 120:
                    time.sleep(0.25)
                time.sleep(2)  # anything extra (a duplicate) would show up now
                pushes = fcm.total()
                with Session(engine) as session:
                    stored = session.scalar(select(func.count()).select_from(Message))
                sent = stats.counts["member_messages_accepted"] + replies + stats.counts["staff_notes"]
                latencies = stats.latencies
                result.update(
                    {
                        "requests": len(latencies),
                        "requests_per_second": round(len(latencies) / elapsed, 1),
                        "p50_ms": round(percentile(latencies, 50), 1),
                        "p99_ms": round(percentile(latencies, 99), 1),
                        "by_route": {
                            route: {
                                "n": len(v),
                                "p50_ms": round(percentile(v, 50), 1),
                                "p99_ms": round(percentile(v, 99), 1),
                            }
                            for route, v in sorted(stats.by_route.items())
                        },
                        # CPU per request is what the machine's other load does not change
                        "gunicorn_cpu_ms_per_request": round((cpu_after[0] - cpu_before[0]) * 1000 / len(latencies), 2),
                        "worker_cpu_ms_per_push": round((cpu_after[1] - cpu_before[1]) * 1000 / max(replies, 1), 2),
                        "bench_client_cpu_seconds": round(cpu_after[2] - cpu_before[2], 1),
                        "load_average_1m": [round(load_before, 1), round(load_after, 1)],
                        "cpus": os.cpu_count(),
                        "errors": sum(stats.errors.values()),
                        "error_kinds": dict(stats.errors.most_common(5)),
                        "member_messages": stats.counts["member_messages_accepted"],
                        "member_retries_same_key": stats.counts["member_retries"],
                        "retry_mismatches": stats.counts["retry_mismatch"],
                        "staff_replies": replies,
                        "staff_notes": stats.counts["staff_notes"],
                        "messages_sent": sent,
                        "messages_stored": stored,
                        "pushes_received": pushes,
                        "push_drain_seconds": round(time.monotonic() - drain_started - 2, 1),
                        # one push per reply, one stored row per accepted message (a replay stores none)
                        "messages_missing": max(0, sent - stored),
                        "messages_duplicated": max(0, stored - sent),
                        "pushes_missing": max(0, replies - pushes),
                        "pushes_duplicated": max(0, pushes - replies),
                    }
                )
            finally:
                stop_process(server)
                stop_process(worker)
                engine.dispose()
    finally:
        fcm.stop()
        clear_redis_prefix(REDIS_URL, prefix)
    problems = nonzero(
        result,
        "errors",
        "retry_mismatches",
        "messages_missing",
        "messages_duplicated",
        "pushes_missing",
        "pushes_duplicated",
    )
    result["met"] = not problems
    finish(result, problems)


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the gunicorn arbiter and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
