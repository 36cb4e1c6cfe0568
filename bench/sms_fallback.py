"""SMS fallback at scale: every notice never acknowledged gets exactly one SMS, no acknowledged one gets any,
and the fallback scan's cost does not grow with the notices ever sent.

    python bench/sms_fallback.py [--notices 100000] [--members 1000] [--history 10000] [--due 500]

1. Growth, first point: ``--history`` settled notices (70% acknowledged, 30% already sent by SMS) and
   ``--due`` notices due now. The scan's query (``due_notices``: the partial index on ``sms_due_at``) is
   timed against a baseline in the same run: the same answer read the naive way, from the notices that are
   not acknowledged and have no SMS outcome (which reads every notice ever sent).
2. The run: ``--notices`` notices over ``--members`` members, each due after its window; the app
   acknowledges 70% of them (``services.acknowledgements.acknowledge``, 100 ids a call); once the window is
   over the scan (``services.sms_fallback.scan_once``, 500 a commit, as the workers run it) settles all of
   them. Checked: each never-acknowledged notice has exactly one SMS row and one send job handed to the
   queue, no acknowledged one has any, a second pass sends nothing.
3. Growth, second point: the same ``--due`` notices due now on top of everything from 1 and 2; both queries
   timed again. The figure to read: ``scan_growth`` (time at the second point / the first) against
   ``rows_growth`` and the baseline's growth.

Needs PostgreSQL (see bench/common.py); no Redis (the send jobs are counted, not run: sending is the SMS
outbox's business and has its own tests). The last line is JSON; the exit status is 1 when an SMS is missing,
repeated or sent for an acknowledged notice.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from bench.common import finish, throwaway_database  # noqa: E402
from lsso_mobile.jobs import JobQueue, JobRequest  # noqa: E402

ACKED_SHARE = 0.7
WINDOW = timedelta(minutes=15)
SMS_LO = "ປກສ: ການລົງທະບຽນຂອງທ່ານອະນຸມັດແລ້ວ. ເລກສະມາຊິກ: 0112345678"
SMS_EN = "LSSO: your registration is approved. Member number: 0112345678"


class CountingQueue(JobQueue):
    """Counts the jobs handed over after each commit, by task name."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def submit(self, request: JobRequest) -> None:
        self.counts[request.name] = self.counts.get(request.name, 0) + 1


def notice_rows(member_ids: list[int], count: int, created: datetime, **values: Any) -> list[dict[str, Any]]:
    return [
        {
            "member_id": member_ids[i % len(member_ids)],
            "category": "registration",
            "template": "registration_approved",
            "critical": True,
            "title_lo": "ການລົງທະບຽນອະນຸມັດແລ້ວ",
            "body_lo": "ເລກສະມາຊິກ 0112345678",
            "title_en": "Registration approved",
            "body_en": "Member number 0112345678",
            "data": {},
            "created_at": created,
            "updated_at": created,
            "deliver_after": created,
            "dispatch_status": "done",
            "dispatch_attempts": 1,
            **values,
        }
        for i in range(count)
    ]


def insert_notices(rt: Any, rows: list[dict[str, Any]]) -> list[int]:
    from lsso_mobile.models import Notification

    ids: list[int] = []
    for start in range(0, len(rows), 5000):
        with rt.db.unit_of_work() as session:
            ids += list(
                session.scalars(
                    insert(Notification).returning(Notification.id, sort_by_parameter_order=True),
                    rows[start : start + 5000],
                )
            )
    return ids


def time_queries(rt: Any, now: datetime, due: int, vacuum: bool = True, repeats: int = 15) -> dict[str, Any]:
    """Median milliseconds of the scan's query and of the naive baseline; both must return the due ids.
    With ``vacuum``, after VACUUM ANALYZE (what autovacuum does in time); without, right after the settling
    (the index still holds the dead entries of the notices just settled)."""
    from lsso_mobile.models import Notification
    from lsso_mobile.services.sms_fallback import due_notices

    naive = (
        select(Notification.id)
        .where(
            Notification.acked_at.is_(None),
            Notification.sms_outcome.is_(None),
            Notification.created_at <= now - WINDOW,
        )
        .order_by(Notification.created_at)
        .limit(due)
    )
    scan_ms, naive_ms = [], []
    with rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE notifications" if vacuum else "ANALYZE notifications"))
    for _ in range(repeats):
        with rt.db.unit_of_work() as session:
            started = time.perf_counter()
            found = due_notices(session, now, due)
            scan_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            naive_found = list(session.scalars(naive))
            naive_ms.append((time.perf_counter() - started) * 1000)
            session.rollback()
    with rt.db.unit_of_work() as session:
        plan = "\n".join(
            row[0]
            for row in session.execute(
                text(
                    "EXPLAIN SELECT id FROM notifications WHERE sms_due_at IS NOT NULL AND sms_due_at <= :now "
                    "ORDER BY sms_due_at LIMIT :due"
                ),
                {"now": now, "due": due},
            )
        )
        rows = session.scalar(select(func.count()).select_from(Notification))
    return {
        "rows": rows,
        "scan_ms": round(statistics.median(scan_ms), 2),
        "naive_ms": round(statistics.median(naive_ms), 2),
        "found": len(found),
        "naive_found": len(naive_found),
        "index_used": "ix_notifications_sms_due" in plan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notices", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=500)
    args = parser.parse_args()

    from lsso_mobile import runtime as runtime_module
    from lsso_mobile.config import load_settings
    from lsso_mobile.extensions import Database
    from lsso_mobile.models import Member, Notification, SmsMessage
    from lsso_mobile.runtime import Runtime
    from lsso_mobile.services.acknowledgements import acknowledge
    from lsso_mobile.services.sms import build_sms_sender
    from lsso_mobile.services.sms_fallback import scan_once

    problems: list[str] = []
    result: dict[str, Any] = {"bench": "sms_fallback", **vars(args)}
    with throwaway_database("lsso_bench_sms") as url:
        settings = load_settings(environ={}, env="test", database_url=url, sms_daily_cap=1_000_000, log_level="WARNING")
        queue = CountingQueue()
        db = Database()
        db.configure(url, job_queue=queue)
        rt = Runtime(settings, db, queue, lambda s: None, build_sms_sender)  # type: ignore[arg-type,return-value]
        runtime_module.install(rt)
        now = datetime.now(UTC)
        with rt.db.unit_of_work() as session:
            member_ids = list(
                session.scalars(
                    insert(Member).returning(Member.id),
                    [
                        {"phone": f"+85620{70_000_000 + i}", "pin_hash": "x", "language": "lo" if i % 4 else "en"}
                        for i in range(args.members)
                    ],
                )
            )

        # 1. growth, first point
        past = now - timedelta(days=30)
        settled = notice_rows(member_ids, args.history, past)
        for i, row in enumerate(settled):
            if i % 10 < 7:
                row["acked_at"] = past
            else:
                row["sms_outcome"] = "queued"
        insert_notices(rt, settled)
        due_ids = insert_notices(
            rt, notice_rows(member_ids, args.due, now - WINDOW, sms_due_at=now, sms_lo=SMS_LO, sms_en=SMS_EN)
        )
        small = time_queries(rt, now, args.due)
        with rt.db.unit_of_work() as session:  # those leave the experiment, settled
            session.execute(
                update(Notification)
                .where(Notification.id.in_(due_ids))
                .values(sms_due_at=None, sms_lo=None, sms_en=None, sms_outcome="bench")
            )

        # 2. the run
        created = now
        ids = insert_notices(
            rt,
            notice_rows(member_ids, args.notices, created, sms_due_at=created + WINDOW, sms_lo=SMS_LO, sms_en=SMS_EN),
        )
        rng = random.Random(20261130)
        acked = set(rng.sample(ids, round(len(ids) * ACKED_SHARE)))
        by_member: dict[int, list[int]] = {}
        for i, nid in enumerate(ids):  # notice i went to member i mod members (notice_rows)
            if nid in acked:
                by_member.setdefault(member_ids[i % len(member_ids)], []).append(nid)
        started = time.perf_counter()
        calls = 0
        for member_id, member_acks in by_member.items():
            with rt.db.unit_of_work() as session:
                for start in range(0, len(member_acks), 100):
                    acknowledge(session, member_id, member_acks[start : start + 100], [], created)
                    calls += 1
        ack_seconds = time.perf_counter() - started
        # a repeat of some acknowledgements changes nothing
        with rt.db.unit_of_work() as session:
            member_id, member_acks = next(iter(by_member.items()))
            repeat = acknowledge(session, member_id, member_acks[:100], [], created)
        if repeat.recorded != 0:
            problems.append(f"a repeated acknowledgement recorded {repeat.recorded}")
        after_window = created + WINDOW + timedelta(seconds=1)
        outcomes: dict[str, int] = {}
        batches = 0
        started = time.perf_counter()
        while True:
            with rt.db.unit_of_work() as session:
                done = scan_once(session, settings, after_window)
            if not done:
                break
            batches += 1
            for key, value in done.items():
                outcomes[key] = outcomes.get(key, 0) + value
        scan_seconds = time.perf_counter() - started
        with rt.db.unit_of_work() as session:
            second_pass = scan_once(session, settings, after_window + timedelta(hours=1))
        never_acked = len(ids) - len(acked)
        with rt.db.unit_of_work() as session:
            per_notice = dict(
                session.execute(
                    select(SmsMessage.notification_id, func.count())
                    .where(SmsMessage.notification_id.between(min(ids), max(ids)))
                    .group_by(SmsMessage.notification_id)
                ).all()
            )
            parts = session.scalar(
                select(func.coalesce(func.sum(SmsMessage.parts), 0)).where(
                    SmsMessage.notification_id.between(min(ids), max(ids))
                )
            )
        run_ids = set(ids)
        if len(run_ids) != max(ids) - min(ids) + 1:
            problems.append("the run's notices are not one block of ids")
        missing = sum(1 for nid in ids if nid not in acked and per_notice.get(nid, 0) == 0)
        repeated = sum(1 for count in per_notice.values() if count > 1)
        for_acked = sum(1 for nid in per_notice if nid in acked)
        jobs = queue.counts.get("send_sms", 0)
        for name, value in (("missing", missing), ("repeated", repeated), ("sms_for_acknowledged", for_acked)):
            if value:
                problems.append(f"{name}: {value}")
        if outcomes.get("queued", 0) != never_acked:
            problems.append(f"queued {outcomes.get('queued', 0)} SMS for {never_acked} notices never acknowledged")
        if jobs != never_acked:
            problems.append(f"{jobs} send jobs for {never_acked} SMS")
        if second_pass:
            problems.append(f"a second pass did something: {dict(second_pass)}")

        # 3. growth, second point
        due_ids = insert_notices(
            rt, notice_rows(member_ids, args.due, now - WINDOW, sms_due_at=now, sms_lo=SMS_LO, sms_en=SMS_EN)
        )
        large_unvacuumed = time_queries(rt, now, args.due, vacuum=False)
        large = time_queries(rt, now, args.due)
        for point in (small, large, large_unvacuumed):
            if point["found"] != args.due or point["naive_found"] != args.due:
                problems.append(f"the queries found {point['found']} / {point['naive_found']} of {args.due} due")
        rt.close()

    result.update(
        never_acknowledged=never_acked,
        sms_queued=outcomes.get("queued", 0),
        send_jobs=jobs,
        sms_parts=int(parts or 0),
        missing=missing,
        repeated=repeated,
        sms_for_acknowledged=for_acked,
        ack_calls=calls,
        ack_per_second=round(len(acked) / ack_seconds) if ack_seconds else None,
        scan_seconds=round(scan_seconds, 2),
        scan_batches=batches,
        scan_notices_per_second=round(never_acked / scan_seconds) if scan_seconds else None,
        growth_small=small,
        growth_large=large,
        growth_large_before_vacuum=large_unvacuumed,
        rows_growth=round(large["rows"] / small["rows"], 1),
        scan_growth=round(large["scan_ms"] / small["scan_ms"], 2) if small["scan_ms"] else None,
        naive_growth=round(large["naive_ms"] / small["naive_ms"], 2) if small["naive_ms"] else None,
        scan_vs_naive_at_large=round(large["scan_ms"] / large["naive_ms"], 3) if large["naive_ms"] else None,
    )
    finish(result, problems)


if __name__ == "__main__":
    main()
