"""Push throughput and latency through the whole pipeline, against the SDK's own ceiling.

    python bench/push_throughput.py [--notifications N] [--latency-samples K] [--rounds R]

1. Ceiling: N messages (the same texts, data and options the pipeline sends) straight through
   firebase-admin ``send_each`` (batches of 500) from this process to the local FCM server (its own
   process).
2. Pipeline: N personal notifications for N members with one device each, recorded the way services
   do (outbox rows, one commit), then outbox -> Redis/RQ -> one ``lsso-mobile worker`` ->
   firebase-admin -> the same FCM server. Rate = N / (commit -> last receipt at the server).
   1 and 2 alternate in ``--rounds`` rounds of N/rounds each, so the shared machine's drift hits both.
3. Latency: K single notices at low load, commit -> receipt at the server, with one worker.

Same number of sending processes in 1 and 2 (one). Needs PostgreSQL and Redis (see bench/common.py).
The last line is JSON; the exit status is 1 when a push was duplicated or missed (targets are only
reported). The default run (20,000) takes a few minutes: the ceiling and the pipeline each send 20,000
pushes at roughly 500-1,000/s on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402

from bench.common import (  # noqa: E402
    REDIS_URL,
    FakeFcmProcess,
    clear_redis_prefix,
    cpu_seconds,
    finish,
    nonzero,
    peak_rss_mb,
    percentile,
    start_worker,
    stop_process,
    throwaway_database,
)

WORKER_APP = "lsso-bench-worker"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4, help="ceiling and pipeline alternate this many times")
    args = parser.parse_args()

    from lsso_mobile.bootstrap import start_runtime
    from lsso_mobile.config import load_settings
    from lsso_mobile.models import Device, Language, Member, Platform, utcnow
    from lsso_mobile.notify.fcm import FcmPushSender
    from lsso_mobile.notify.outbox import record_notification

    n = args.notifications
    fcm = FakeFcmProcess()
    prefix = f"lsso-bench-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="lsso-bench-"))
    result: dict = {"benchmark": "push_throughput", "notifications": n}
    try:
        sender = FcmPushSender(credentials_path=None, endpoint=fcm.url, project_id="lsso-bench", http_timeout=30)
        sender.send([_same_message_as_pipeline(i) for i in range(500)])  # warm-up: connections, token
        with throwaway_database("lsso_bench_push") as database_url:
            settings = load_settings(
                environ={},
                env="test",
                database_url=database_url,
                instance_dir=str(workdir),
                redis_url=REDIS_URL,
                queue_prefix=prefix,
                push_backend="fcm",
                fcm_endpoint=fcm.url,
                fcm_project_id="lsso-bench",
                fcm_http_timeout=30.0,
                password_hashing="fast",
                log_level="WARNING",
                relay_interval_seconds=3600,
            )
            rt = start_runtime(settings)
            now = utcnow()
            total_members = n + args.latency_samples + 1
            with rt.db.unit_of_work() as session:
                session.execute(
                    insert(Member),
                    [
                        {
                            "phone": f"+85620{i:08d}",
                            "pin_hash": "x",
                            "created_at": now,
                            "updated_at": now,
                            "language": Language.LAO if i % 2 else Language.ENGLISH,
                            "failed_logins": 0,
                        }
                        for i in range(total_members)
                    ],
                )
                member_ids = list(session.scalars(select(Member.id).order_by(Member.id)))
                session.execute(
                    insert(Device),
                    [
                        {
                            "member_id": mid,
                            "token": f"pipeline-{mid:08d}-token",
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

            def record(ids: list[int]) -> float:
                with rt.db.unit_of_work() as session:
                    for mid in ids:
                        record_notification(
                            session,
                            mid,
                            "registration_approved",
                            {"application_id": mid, "member_number": f"01{mid:08d}"},
                            utcnow(),
                        )
                return time.time()  # the commit (and the after-commit enqueue) is done here

            # The worker's connections carry a name, so its database CPU can be told from this process's.
            separator = "&" if "?" in database_url else "?"
            worker_settings = settings.replace(database_url=f"{database_url}{separator}application_name={WORKER_APP}")
            worker = start_worker(worker_settings, workdir / "worker.log")
            try:
                warm_id = member_ids[-1]
                record([warm_id])
                _wait(lambda: fcm.total() >= 1, 60, "worker warm-up")
                fcm.reset()

                # 1 + 2, alternating in rounds so that the machine's drift hits both alike
                per_round = n // args.rounds
                ceiling_seconds = pipeline_seconds = ceiling_cpu = worker_cpu = database_cpu = 0.0
                delivered = 0
                for round_index in range(args.rounds):
                    messages = [
                        _same_message_as_pipeline(i)
                        for i in range(round_index * per_round, (round_index + 1) * per_round)
                    ]
                    started, cpu_started = time.perf_counter(), time.process_time()
                    results = sender.send(messages)
                    ceiling_seconds += time.perf_counter() - started
                    ceiling_cpu += time.process_time() - cpu_started
                    assert sum(r.outcome == "sent" for r in results) == per_round, "ceiling run lost messages"

                    cpu_before = cpu_seconds(worker.pid)
                    database_before = _database_cpu(rt)
                    batch = member_ids[round_index * per_round : (round_index + 1) * per_round]
                    before = fcm.total()
                    committed_at = record(batch)
                    _wait(lambda before=before: fcm.total() >= before + per_round, 600, "pipeline delivery", 0.2)
                    tokens = {f"pipeline-{mid:08d}-token" for mid in batch}
                    last = max(t for t, token in fcm.receipts() if token in tokens)
                    pipeline_seconds += last - committed_at
                    worker_cpu += cpu_seconds(worker.pid) - cpu_before
                    database_after = _database_cpu(rt)
                    database_cpu += sum(cpu - database_before.get(pid, 0.0) for pid, cpu in database_after.items())
                    delivered += per_round
                time.sleep(1)  # a repeat would arrive right after the first
                expected = {f"pipeline-{mid:08d}-token" for mid in member_ids[:delivered]}
                counts = {t: c for t, c in fcm.counts()["by_token"].items() if t in expected}
                result["rounds"] = args.rounds
                result["ceiling_per_second"] = round(delivered / ceiling_seconds, 1)
                result["pipeline_per_second"] = round(delivered / pipeline_seconds, 1)
                result["ratio"] = round(result["pipeline_per_second"] / result["ceiling_per_second"], 3)
                result["ceiling_cpu_ms_per_message"] = round(ceiling_cpu * 1000 / delivered, 3)
                result["worker_cpu_ms_per_message"] = round(worker_cpu * 1000 / delivered, 3)
                # PostgreSQL's backends serving the worker (on the same 2 cores as the worker and the FCM server)
                result["database_cpu_ms_per_message"] = round(database_cpu * 1000 / delivered, 3)
                result["worker_peak_rss_mb"] = round(peak_rss_mb(worker.pid), 1)
                result["duplicates"] = sum(c - 1 for c in counts.values() if c > 1)
                result["missing"] = delivered - len(counts)
                fcm.reset()

                # 3. latency of single notices at low load
                latencies = []
                for mid in member_ids[n : n + args.latency_samples]:
                    token = f"pipeline-{mid:08d}-token"
                    before = fcm.total()
                    committed = record([mid])
                    _wait(lambda before=before: fcm.total() > before, 30, "a single notice", 0.002)
                    received = next(t for t, tok in fcm.receipts() if tok == token)
                    latencies.append((received - committed) * 1000)
                    time.sleep(0.05)
                result["latency_ms"] = {
                    "p50": round(percentile(latencies, 50), 1),
                    "p95": round(percentile(latencies, 95), 1),
                    "max": round(max(latencies), 1),
                    "samples": len(latencies),
                }
                time.sleep(1)
                result["latency_duplicates"] = sum(c - 1 for c in fcm.counts()["by_token"].values() if c > 1)
            finally:
                stop_process(worker)
                sender.close()
                rt.close()
        result["targets"] = {"ratio": ">= 0.8", "latency_p95_ms": "<= 500"}
        result["met"] = (
            result["ratio"] >= 0.8
            and result["latency_ms"]["p95"] <= 500
            and result["duplicates"] == 0
            and result["missing"] == 0
        )
    finally:
        fcm.stop()
        clear_redis_prefix(REDIS_URL, prefix)
    finish(result, nonzero(result, "duplicates", "missing", "latency_duplicates"))


def _same_message_as_pipeline(i: int):
    """The message the pipeline sends for member i: same texts, data, collapse key, tag, TTL, badge, priority."""
    from lsso_mobile.notify.delivery import CRITICAL_TTL, notice_tag
    from lsso_mobile.notify.fcm import PushMessage
    from lsso_mobile.notify.templates import render

    notice = render("registration_approved", {"application_id": i, "member_number": f"01{i:08d}"})
    english = i % 2 == 0
    return PushMessage(
        token=f"ceiling-{i:08d}-token",
        title=notice.title("en" if english else "lo"),
        body=notice.body("en" if english else "lo"),
        data={
            "notification_id": str(i),
            "category": "registration",
            "template": "registration_approved",
            "deep_link": notice.deep_link,
        },
        collapse_key=None,
        tag=notice_tag(i),  # the Android tag and APNs collapse id every notice carries
        ttl_seconds=int(CRITICAL_TTL.total_seconds()),
        badge=1,
        priority="high",
    )


def _database_cpu(rt) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the worker (the server runs on this machine)."""
    from sqlalchemy import text

    with rt.db.engine.connect() as connection:
        pids = connection.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = :name"),
            {"name": WORKER_APP},
        ).all()
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # gone since
            found[pid] = cpu_seconds(pid)
    return found


def _wait(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


if __name__ == "__main__":
    main()
