"""Scale-out: what a second process adds, for the push pipeline, the broadcast path and the member read paths.

    python bench/scale_out.py [--notifications N] [--broadcast-devices D] [--seconds S] [--clients C]

1. Pushes: N personal notices (one device each) recorded the way services do, then outbox -> Redis/RQ ->
   W `lsso-mobile worker` processes -> firebase-admin -> the local FCM server (its own process), for W = 1
   and W = 2 in the same run. Rate = N / (commit -> last receipt at the server).
2. Broadcast: a broadcast to D devices approved through the service, sent in slices by W workers, W = 1
   and 2. Rate = D / (approval commit -> last receipt).
3. Reads: GET /api/v1/me (the home screen's sync), /api/v1/me/contributions/summary (120 months of record)
   and /api/v1/me/notifications (the inbox) under gunicorn with W = 1 and 2 sync processes, C client
   threads in two client processes, S seconds per route after a warm-up. Requests per second.

Each ratio is W=2 over W=1 in the same run; the target is >= 1.7 on 2 cores (reported, never a failure).
The load generator, the FCM server, PostgreSQL and Redis share the machine with what is measured, so the
ceiling on 2 cores is below 2.0. The last line is JSON; exit 1 when a push was repeated or missed or a
request failed.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from bench.common import (  # noqa: E402
    REDIS_URL,
    ROOT,
    CpuAccount,
    FakeFcmProcess,
    clear_redis_prefix,
    finish,
    free_port,
    start_worker,
    stop_process,
    throwaway_database,
    wait_http,
    worker_env,
)
from bench.contributions import app_users, load_people  # noqa: E402

READ_PATHS = {
    "home": "/api/v1/me",
    "contributions_summary": "/api/v1/me/contributions/summary",
    "inbox": "/api/v1/me/notifications",
}


def _wait(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


def _workers(settings, count: int, workdir: Path, tag: str) -> list[subprocess.Popen]:
    """``count`` workers, returned once every one of them is registered in Redis (started and idle)."""
    from redis import Redis
    from rq import Worker

    processes = [start_worker(settings, workdir / f"worker-{tag}-{i}.log") for i in range(count)]
    redis = Redis.from_url(REDIS_URL)
    ours = f"{settings.queue_prefix}-"

    def registered() -> int:
        return sum(1 for w in Worker.all(connection=redis) if any(q.startswith(ours) for q in w.queue_names()))

    _wait(lambda: registered() >= count, 300, "the workers to start", 0.2)
    redis.close()
    return processes


def push_run(rt, fcm: FakeFcmProcess, member_ids: list[int], settings, workers: int, workdir: Path) -> dict:
    from lsso_mobile.models import utcnow
    from lsso_mobile.notify.outbox import record_notification

    processes = _workers(settings, workers, workdir, f"push{workers}")
    try:
        warm = member_ids[-1]
        before = fcm.total()
        with rt.db.unit_of_work() as session:
            record_notification(
                session, warm, "registration_approved", {"application_id": 1, "member_number": "0100000001"}, utcnow()
            )
        _wait(lambda: fcm.total() > before, 120, "the workers to warm up")
        before = fcm.total()
        batch = member_ids[:-1]
        with rt.db.unit_of_work() as session:
            for member_id in batch:
                record_notification(
                    session,
                    member_id,
                    "registration_approved",
                    {"application_id": member_id, "member_number": f"01{member_id:08d}"},
                    utcnow(),
                )
        committed = time.time()
        cpu = CpuAccount(worker=[p.pid for p in processes], fcm_server=[fcm.process.pid])
        _wait(lambda: fcm.total() >= before + len(batch), 900, "the pushes", 0.1)
        used = cpu.per_item(len(batch))
        tokens = {f"scale-{mid:08d}-token" for mid in batch}
        last = max(t for t, token in fcm.receipts() if token in tokens)
        rate = round(len(batch) / (last - committed), 1)
        return {"workers": workers, "pushes": len(batch), "per_second": rate, "cpu": used}
    finally:
        for process in processes:
            stop_process(process)


def machine_limit_ratio(runs: list[dict]) -> float:
    """The most a second worker could add on this machine: every core busy at the two-worker run's CPU cost
    per push (workers, the FCM server, PostgreSQL, Redis, the bench), over the one-worker rate."""
    cores = os.cpu_count() or 1
    cpu = runs[1]["cpu"]
    busy_ms = cpu["worker_cpu_ms_per_item"] + cpu["fcm_server_cpu_ms_per_item"] + cpu["rest_cpu_ms_per_item"]
    return round(cores * 1000 / busy_ms / runs[0]["per_second"], 3)


def broadcast_run(rt, fcm: FakeFcmProcess, devices: int, staff, settings, workers: int, workdir: Path) -> dict:
    from lsso_mobile.models import utcnow
    from lsso_mobile.services import broadcasts
    from lsso_mobile.services.audience import Audience

    author, approver = staff
    processes = _workers(settings, workers, workdir, f"broadcast{workers}")
    try:
        draft = broadcasts.BroadcastDraft(
            title_lo="ແຈ້ງການ",
            body_lo="ອັດຕາໃໝ່",
            title_en="Notice",
            body_en="New rate",
            category="news",
            critical=False,
            audience=Audience(),
            send_at=None,
            expires_at=None,
        )
        with rt.db.unit_of_work() as session:
            broadcast = broadcasts.create_broadcast(session, author, draft, utcnow())
            broadcasts.submit_for_approval(session, author, broadcast.id, utcnow())
        before = fcm.total()
        with rt.db.unit_of_work() as session:
            broadcasts.approve(session, approver, broadcast.id, utcnow())
        approved = time.time()
        cpu = CpuAccount(worker=[p.pid for p in processes], fcm_server=[fcm.process.pid])
        _wait(lambda: fcm.total() >= before + devices, 1800, "the broadcast", 0.1)
        used = cpu.per_item(devices)
        last = max(t for t, _token in fcm.receipts())
        rate = round(devices / (last - approved), 1)
        return {"workers": workers, "devices": devices, "per_second": rate, "cpu": used}
    finally:
        for process in processes:
            stop_process(process)


def _client_process(port: int, path: str, tokens: list[str], threads: int, seconds: float, out) -> None:
    counts = [0, 0]  # requests, errors
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        done = bad = 0
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", path, headers={"Authorization": f"Bearer {rng.choice(tokens)}"})
                response = connection.getresponse()
                response.read()
                bad += response.status != 200
            except (OSError, http.client.HTTPException):
                bad += 1
            finally:
                connection.close()
            done += 1
        with lock:
            counts[0] += done
            counts[1] += bad

    pool = [threading.Thread(target=client, args=(seed,)) for seed in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.send(tuple(counts))


def drive(port: int, path: str, tokens: list[str], clients: int, seconds: float) -> dict:
    """C client threads split over two processes (one Python process cannot keep two servers busy)."""
    pipes, processes = [], []
    for index in range(2):
        receive, send = multiprocessing.Pipe(duplex=False)
        threads = clients // 2 + (clients % 2 if index == 0 else 0)
        process = multiprocessing.Process(target=_client_process, args=(port, path, tokens, threads, seconds, send))
        process.start()
        pipes.append(receive)
        processes.append(process)
    started = time.perf_counter()
    totals = [0, 0]
    for receive, process in zip(pipes, processes, strict=True):
        done, bad = receive.recv()
        process.join()
        totals[0] += done
        totals[1] += bad
    elapsed = time.perf_counter() - started
    return {"rps": round(totals[0] / elapsed, 1), "requests": totals[0], "errors": totals[1]}


def read_run(settings, tokens: list[str], workers: int, clients: int, seconds: float, workdir: Path) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        env=worker_env(settings),
        cwd=ROOT,
        stdout=(workdir / f"gunicorn-{workers}.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(port)
        figures: dict = {"processes": workers}
        for name, path in READ_PATHS.items():
            drive(port, path, tokens, clients, max(0.5, seconds / 4))  # warm-up: every process, every path
            figures[name] = drive(port, path, tokens, clients, seconds)
        return figures
    finally:
        stop_process(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=4000)
    parser.add_argument("--broadcast-devices", type=int, default=8000)
    parser.add_argument("--seconds", type=float, default=10, help="seconds per read path and process count")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    from lsso_mobile.bootstrap import start_runtime
    from lsso_mobile.config import load_settings
    from lsso_mobile.models import Device, Language, Member, Platform, StaffRole, utcnow
    from lsso_mobile.services.accounts import Principal, create_staff_user
    from lsso_mobile.services.tokens import KeyRing, generate_private_key_pem

    fcm = FakeFcmProcess()
    prefix = f"lsso-bench-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="lsso-bench-scale-"))
    key_file = workdir / "jwt.pem"
    key_file.write_bytes(generate_private_key_pem())
    result: dict = {
        "benchmark": "scale_out",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": multiprocessing.cpu_count(),
    }
    problems: list[str] = []
    try:
        with throwaway_database("lsso_bench_scale") as database_url:
            settings = load_settings(
                environ={},
                env="test",
                database_url=database_url,
                instance_dir=str(workdir),
                jwt_private_key_file=str(key_file),
                redis_url=REDIS_URL,
                queue_prefix=prefix,
                push_backend="fcm",
                fcm_endpoint=fcm.url,
                fcm_project_id="lsso-bench",
                fcm_http_timeout=30.0,
                password_hashing="fast",
                log_level="WARNING",
                relay_interval_seconds=3600,
                broadcast_slice_devices=max(500, args.broadcast_devices // 16),
            )
            rt = start_runtime(settings)
            now = utcnow()
            devices = max(args.notifications + 1, args.broadcast_devices)
            with rt.db.unit_of_work() as session:
                session.execute(
                    insert(Member),
                    [
                        {
                            "phone": f"+856209{i:07d}",
                            "pin_hash": "x",
                            "created_at": now,
                            "updated_at": now,
                            "language": Language.LAO if i % 2 else Language.ENGLISH,
                            "failed_logins": 0,
                        }
                        for i in range(devices)
                    ],
                )
                member_ids = list(session.scalars(select(Member.id).order_by(Member.id)))
                session.execute(
                    insert(Device),
                    [
                        {
                            "member_id": mid,
                            "token": f"scale-{mid:08d}-token",
                            "platform": Platform.ANDROID,
                            "app_version": "1.0",
                            "locale": "lo",
                            "active": True,
                            "created_at": now,
                            "last_seen_at": now,
                        }
                        for mid in member_ids
                    ],
                )
                staff = []
                for name in ("ops.author", "ops.approver"):
                    user = create_staff_user(session, settings, name, "bench-password-1", StaffRole.OPS, name, None)
                    staff.append(Principal("staff", user.id, "ops", None, str(uuid.uuid4())))
            try:
                pushes = [push_run(rt, fcm, member_ids[: args.notifications + 1], settings, w, workdir) for w in (1, 2)]
                result["pushes"] = pushes
                result["push_ratio"] = round(pushes[1]["per_second"] / pushes[0]["per_second"], 3)
                result["push_machine_limit_ratio"] = machine_limit_ratio(pushes)
                broadcast_devices = len(member_ids)
                runs = [broadcast_run(rt, fcm, broadcast_devices, staff, settings, w, workdir) for w in (1, 2)]
                result["broadcast"] = runs
                result["broadcast_ratio"] = round(runs[1]["per_second"] / runs[0]["per_second"], 3)
                result["broadcast_machine_limit_ratio"] = machine_limit_ratio(runs)
                time.sleep(1.0)  # a repeat would arrive right after the first
                by_token = fcm.counts()["by_token"]
                # the first N+1 devices: a notice in each push run (the last one: the warm-up) and both broadcasts
                expected_pushes = {f"scale-{mid:08d}-token": 4 for mid in member_ids[: args.notifications + 1]}
                result["duplicates"] = sum(
                    max(0, count - expected_pushes.get(token, 2)) for token, count in by_token.items()
                )
                result["missing"] = sum(
                    max(0, expected_pushes.get(f"scale-{mid:08d}-token", 2) - by_token.get(f"scale-{mid:08d}-token", 0))
                    for mid in member_ids
                )
                # 3. reads: members linked to insured persons with 120 months each
                readers = max(20, min(200, args.notifications // 10))
                engine = create_engine(database_url)
                load_people(engine, 1, readers)
                tokens = app_users(engine, KeyRing.from_settings(settings), list(range(1, readers + 1)), settings)
                with engine.begin() as connection:  # a few notices in each reader's inbox
                    connection.execute(
                        text("""
                        INSERT INTO notifications (member_id, category, template, critical, title_lo, body_lo,
                            title_en, body_en, data, created_at, updated_at, deliver_after, dispatch_status,
                            dispatch_attempts)
                        SELECT m.id, 'contributions', 'contribution_received', false, 'ໄດ້ຮັບ', 'ໄດ້ຮັບເງິນ',
                               'Received', 'We received your contribution', '{}', now(), now(), now(), 'done', 1
                        FROM members m CROSS JOIN generate_series(1, 5)
                        WHERE m.insured_person_id IS NOT NULL
                    """)
                    )
                engine.dispose()
                reads = [read_run(settings, tokens, w, args.clients, args.seconds, workdir) for w in (1, 2)]
                result["reads"] = reads
                result["read_ratios"] = {
                    name: round(reads[1][name]["rps"] / reads[0][name]["rps"], 3) for name in READ_PATHS
                }
                errors = sum(run[name]["errors"] for run in reads for name in READ_PATHS)
                result["read_errors"] = errors
            finally:
                rt.close()
        ratios = [result["push_ratio"], result["broadcast_ratio"], *result["read_ratios"].values()]
        result["target"] = ">= 1.7 from the second process"
        result["met"] = all(r >= 1.7 for r in ratios)
        problems += [f"{key}: {result[key]}" for key in ("duplicates", "missing", "read_errors") if result[key]]
    finally:
        fcm.stop()
        clear_redis_prefix(REDIS_URL, prefix)
    finish(result, problems)


if __name__ == "__main__":
    main()
