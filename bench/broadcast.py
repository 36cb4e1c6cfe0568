"""A broadcast to every member at national scale, against firebase-admin's own ceiling.

    python bench/broadcast.py [--members N] [--workers W] [--timeout SECONDS]

1. Fills a throwaway PostgreSQL database with N members (default 1,000,000) with one device each;
   1% of them mute the "news" category (so the muting path runs at scale too).
2. Audience preview latency through the API (everyone; three provinces; a scheme in two provinces).
3. Ceiling: the same number of messages as the broadcast will push, straight through firebase-admin
   ``send_each`` (500 a call) from W processes at once to the local FCM server (its own process);
   half before the broadcast and half after, so the shared machine's drift hits both alike.
4. The broadcast: created, submitted and approved over the API by two ops users, then sent by W
   ``lsso-mobile worker`` processes with the real SDK to the same FCM server. Figures: time from the
   approval request until the API shows the broadcast sending (its slices cut and committed; their jobs
   are handed to the queue right after that commit), delivery rate (approval -> last push received),
   its ratio to the ceiling, peak RSS per worker, and duplicates / misses counted at the server.
   The bench watches only what anyone can observe (the broadcast's status and stats through the API,
   pushes at the FCM server), never the job queues, so moving a job to another queue cannot break it.

Needs PostgreSQL and Redis (see bench/common.py). The last line is JSON; the exit status is 1 when a push
was duplicated, missed or unexpected, or the broadcast's stats disagree (targets missed are only reported).
A long run at the default size: the ceiling and the broadcast each send ~990,000 pushes, at roughly
1,000-2,000/s with 2 processes on 2 cores (15-30 minutes together), after a fill of a few minutes.
``--timeout`` bounds the wait for the broadcast to be sent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.common import (  # noqa: E402
    REDIS_URL,
    FakeFcmProcess,
    clear_redis_prefix,
    finish,
    nonzero,
    peak_rss_mb,
    start_worker,
    stop_process,
    throwaway_database,
)

MUTED_EVERY = 100  # one member in a hundred mutes "news"
PASSWORD = "bench-password-1"
TEXTS = {
    "title_lo": "ແຈ້ງການ: ອັດຕາເງິນສົມທົບໃໝ່",
    "body_lo": "ອັດຕາເງິນສົມທົບໃໝ່ ເລີ່ມແຕ່ເດືອນໜ້າ.",
    "title_en": "Notice: new contribution rate",
    "body_en": "The new contribution rate starts next month.",
}


def _content(broadcast_id: int):
    from datetime import timedelta

    from lsso_mobile.models import BroadcastStatus, utcnow
    from lsso_mobile.services.audience import Audience
    from lsso_mobile.services.broadcast_delivery import BroadcastContent

    return BroadcastContent(
        broadcast_id,
        BroadcastStatus.SENDING,
        "news",
        False,
        Audience(),
        TEXTS["title_lo"],
        TEXTS["body_lo"],
        TEXTS["title_en"],
        TEXTS["body_en"],
        utcnow() + timedelta(days=30),
    )


def ceiling_child(fcm_url: str, count: int, offset: int) -> None:
    """One sending process of the ceiling: ``count`` messages, 500 per ``send_each``."""
    from lsso_mobile.models import utcnow
    from lsso_mobile.notify.fcm import MAX_BATCH, FcmPushSender

    sender = FcmPushSender(credentials_path=None, endpoint=fcm_url, project_id="lsso-bench", http_timeout=60)
    content = _content(0)
    now = utcnow()
    sender.send([content.message(f"warm-{offset}-{i}", i % 2 == 0, now) for i in range(MAX_BATCH)])
    print("ready", flush=True)
    sys.stdin.readline()  # the parent starts every child at once
    started, sent = time.time(), 0
    for start in range(offset, offset + count, MAX_BATCH):
        messages = [
            content.message(f"ceiling-{i:08d}-token", i % 2 == 0, now)
            for i in range(start, min(offset + count, start + MAX_BATCH))
        ]
        sent += sum(r.outcome == "sent" for r in sender.send(messages))
    print(json.dumps({"started": started, "finished": time.time(), "sent": sent}), flush=True)
    sender.close()


def run_ceiling(fcm_url: str, total: int, processes: int) -> float:
    """Seconds for ``total`` messages from ``processes`` processes at once."""
    share = -(-total // processes)
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--ceiling-child", fcm_url, str(min(share, total - p * share)), str(p * share)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in range(processes)
    ]
    for child in children:
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    reports = [json.loads(child.stdout.readline()) for child in children]
    for child in children:
        child.wait(timeout=60)
    assert sum(r["sent"] for r in reports) == total, "the ceiling run lost messages"
    return max(r["finished"] for r in reports) - min(r["started"] for r in reports)


def fill(database_url: str, members: int) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    with engine.begin() as connection:
        offices = [row[0] for row in connection.execute(text("SELECT id FROM offices ORDER BY id"))]
        connection.execute(
            text("""
            INSERT INTO members (phone, pin_hash, language, office_id, failed_logins, created_at, updated_at)
            SELECT '+85620' || lpad(i::text, 8, '0'), 'x', CASE WHEN i % 2 = 0 THEN 'en' ELSE 'lo' END,
                   (CAST(:offices AS integer[]))[1 + i % :office_count], 0, now(), now()
            FROM generate_series(1, :n) AS i
        """),
            {"offices": offices, "office_count": len(offices), "n": members},
        )
        connection.execute(
            text("""
            INSERT INTO devices (member_id, token, platform, app_version, locale, active, created_at, last_seen_at)
            SELECT id, 'bc-' || lpad(id::text, 8, '0') || '-token', 'android', '1.0', 'lo', true, now(), now()
            FROM members
        """)
        )
        connection.execute(
            text("""
            INSERT INTO notification_preferences (member_id, muted_categories, updated_at)
            SELECT id, '["news"]', now() FROM members WHERE id % :every = 0
        """),
            {"every": MUTED_EVERY},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--ceiling-child":
        ceiling_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes, and ceiling processes")
    parser.add_argument("--preview-only", action="store_true", help="fill, time the preview, stop")
    parser.add_argument(
        "--timeout", type=float, default=7200, help="seconds to wait for the broadcast to be sent before giving up"
    )
    args = parser.parse_args()

    from lsso_mobile import create_app
    from lsso_mobile import runtime as runtime_module
    from lsso_mobile.config import load_settings
    from lsso_mobile.models import StaffRole
    from lsso_mobile.services.accounts import create_staff_user

    fcm = FakeFcmProcess()
    prefix = f"lsso-bench-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="lsso-bench-"))
    result: dict = {"benchmark": "broadcast", "members": args.members, "devices": args.members, "workers": args.workers}
    workers: list[subprocess.Popen] = []
    problems: list[str] = []
    try:
        with throwaway_database("lsso_bench_broadcast") as database_url:
            started = time.perf_counter()
            fill(database_url, args.members)
            result["fill_seconds"] = round(time.perf_counter() - started, 1)
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
                fcm_http_timeout=60.0,
                password_hashing="fast",
                log_level="WARNING",
            )
            app = create_app(settings)
            rt = runtime_module.current()
            with rt.db.unit_of_work() as session:
                for username in ("ops.author", "ops.approver"):
                    create_staff_user(session, settings, username, PASSWORD, StaffRole.OPS, username, None)
            client = app.test_client()

            def bearer(username: str) -> dict[str, str]:
                token = client.post("/api/v1/auth/staff/login", json={"username": username, "password": PASSWORD})
                return {"Authorization": f"Bearer {token.json['access_token']}"}

            author = bearer("ops.author")  # access tokens live 15 minutes: sign in again before each step

            preview_ms = {}
            for name, audience in (
                ("everyone", {}),
                ("three_provinces", {"provinces": ["01", "02", "16"]}),
                ("scheme_in_two_provinces", {"provinces": ["01", "16"], "schemes": ["voluntary"]}),
            ):
                timings = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    response = client.post("/api/v1/staff/broadcasts/preview", json=audience, headers=author)
                    timings.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.json
                preview_ms[name] = round(min(timings), 1)
                preview_ms[f"{name}_worst"] = round(max(timings), 1)
                if name == "everyone":
                    assert response.json == {**response.json, "members": args.members, "devices": args.members}
            result["preview_ms"] = preview_ms
            print(f"progress: {json.dumps(result)}", file=sys.stderr, flush=True)
            if args.preview_only:
                rt.close()
                result["met"] = max(preview_ms.values()) <= 1000
                finish(result, [])
            expected = args.members - args.members // MUTED_EVERY

            # The ceiling runs half before and half after the broadcast, so the machine's drift hits both alike.
            ceiling_seconds = run_ceiling(fcm.url, expected // 2, args.workers)
            fcm.reset()

            workers = [start_worker(settings, workdir / f"worker-{i}.log") for i in range(args.workers)]
            time.sleep(3)  # workers up and idle
            author, approver = bearer("ops.author"), bearer("ops.approver")
            created = client.post("/api/v1/staff/broadcasts", headers=author, json=TEXTS)
            assert created.status_code == 201, created.json
            broadcast_id = created.json["id"]
            assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=author).status_code == 200
            approved_at = time.time()
            assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=approver).status_code == 200

            def stats() -> dict:
                response = client.get(f"/api/v1/staff/broadcasts/{broadcast_id}/stats", headers=author)
                assert response.status_code == 200, response.json
                return response.json

            def sending() -> dict | None:
                answer = stats()
                return answer if answer["status"] != "scheduled" else None

            # Sending has started once the API says so: the slices are committed, their jobs handed over.
            started = _wait_for(sending, 120, "the broadcast to start sending")
            result["sending_started_seconds"] = round(time.time() - approved_at, 2)
            result["slices"] = started["slices_total"]

            # "sent" once every slice has committed its last call: every push it made has reached the server.
            peak = [0.0] * len(workers)
            deadline = time.monotonic() + args.timeout
            signed_in = time.monotonic()
            while time.monotonic() < deadline:
                peak = [max(p, peak_rss_mb(w.pid)) for p, w in zip(peak, workers, strict=True)]
                if time.monotonic() - signed_in > 600:  # access tokens live 15 minutes
                    author, signed_in = bearer("ops.author"), time.monotonic()
                if stats()["status"] == "sent":
                    break
                time.sleep(1)
            else:
                problems.append(f"not sent within {args.timeout:g} s")
            time.sleep(3)  # any duplicate shows up
            counts = fcm.counts()["by_token"]
            receipts = [t for t, _ in fcm.receipts()]
            first, last = min(receipts), max(receipts)
            result["first_push_after_seconds"] = round(first - approved_at, 2)
            result["steady_per_second"] = round(len(receipts) / (last - first), 1)
            result["delivered"] = len(counts)
            result["delivery_per_second"] = round(len(counts) / (last - approved_at), 1)
            result["worker_peak_rss_mb"] = [
                round(max(p, peak_rss_mb(w.pid)), 1) for p, w in zip(peak, workers, strict=True)
            ]
            expected_tokens = {f"bc-{i:08d}-token" for i in range(1, args.members + 1) if i % MUTED_EVERY}
            result["duplicates"] = sum(c - 1 for c in counts.values() if c > 1)
            result["misses"] = len(expected_tokens - counts.keys())
            result["unexpected"] = len(counts.keys() - expected_tokens)
            author = bearer("ops.author")
            final = stats()
            result["status"] = final["status"]
            result["stats_totals"] = final["totals"]
            problems += nonzero(result, "duplicates", "misses", "unexpected")
            muted = args.members // MUTED_EVERY
            if (final["totals"]["sent"], final["totals"]["muted"]) != (expected, muted):
                problems.append(f"stats totals {final['totals']}: expected {expected} sent and {muted} muted")
            if final["slices_done"] != final["slices_total"]:
                problems.append(f"{final['slices_done']} of {final['slices_total']} slices done")
            fcm.reset()
            ceiling_seconds += run_ceiling(fcm.url, expected - expected // 2, args.workers)
            result["ceiling_per_second"] = round(expected / ceiling_seconds, 1)
            result["ratio"] = round(result["delivery_per_second"] / result["ceiling_per_second"], 3)
            rt.close()
        result["targets"] = {
            "sending_started_seconds": "<= 10",
            "ratio": ">= 0.8",
            "worker_peak_rss_mb": "<= 300",
            "preview_ms": "<= 1000",
            "duplicates": 0,
            "misses": 0,
        }
        result["met"] = (
            result["sending_started_seconds"] <= 10
            and result["ratio"] >= 0.8
            and max(result["worker_peak_rss_mb"]) <= 300
            and max(v for v in preview_ms.values()) <= 1000
            and result["duplicates"] == 0
            and result["misses"] == 0
            and result["unexpected"] == 0
        )
    finally:
        for worker in workers:
            stop_process(worker)
        fcm.stop()
        clear_redis_prefix(REDIS_URL, prefix)
    finish(result, problems)


def _wait_for(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


if __name__ == "__main__":
    main()
