"""Bills paid through bank callbacks: every bill credited exactly once, none lost, and the callback rate
against a trivial endpoint in the same run.

    python bench/payments.py [--bills N] [--clients C] [--gunicorn-workers W] [--workers K] [--timeout S]

1. N members with an open bill each are written to a fresh PostgreSQL database; the local fake bank (its
   own process) records one paid transaction per bill.
2. gunicorn serves the app; K ``lsso-mobile worker`` processes confirm payments with the fake bank.
3. Baseline: C clients send ``--baseline-requests`` (default 4,000, at most the callbacks) to
   ``GET /api/v1/provinces`` (a small read) over keep-alive connections. Callbacks: the same clients send
   N signed callbacks plus 20% duplicates, with 10% of them moved out of order, to
   ``POST /api/v1/payments/callbacks/sandbox``. Baseline and callbacks alternate in two halves, so the
   shared machine's drift hits both.
4. Then it waits until every payment is settled and checks: N credited payments, N paid bills, no payment
   row more than the bank's transactions, no review item, one receipt notice and one receipt SMS per bill.

Needs PostgreSQL and Redis (see bench/common.py). The last line is JSON; the exit status is 1 when a bill
was credited twice, not at all, or a request failed (the throughput target, ratio >= 0.5, is only reported).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    REDIS_URL,
    ROOT,
    clear_redis_prefix,
    finish,
    free_port,
    percentile,
    start_worker,
    stop_process,
    throwaway_database,
    wait_http,
    worker_env,
)

SECRET = "bench-callback-secret-0123456789abcdef"


class BankProcess:
    """The fake bank in its own process (it answers the workers' status queries)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.bank", "--port", str(self.port), "--app", "", "--secret", SECRET],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/transactions/none")
                connection.getresponse().read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("fake bank did not start")

    def record(self, transactions: list[dict[str, Any]]) -> None:
        for start in range(0, len(transactions), 2000):
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            body = json.dumps({"transactions": transactions[start : start + 2000]})
            connection.request("POST", "/ledger", body=body, headers={"Content-Type": "application/json"})
            assert connection.getresponse().status == 200

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def seed(database_url: str, count: int) -> list[tuple[str, int]]:
    """N voluntary members with one open bill each for the current month; returns (bill number, amount)."""
    from sqlalchemy import create_engine, insert, select
    from sqlalchemy.orm import Session

    from lsso_mobile.models import (
        Bill,
        BillMonth,
        BillStatus,
        InsuredPerson,
        Member,
        Office,
        Scheme,
        Sex,
        utcnow,
    )
    from lsso_mobile.services.contributions import period_of
    from lsso_mobile.services.payments import new_bill_number

    engine = create_engine(database_url)
    now = utcnow()
    period = period_of(now)
    with Session(engine) as session:
        office = session.scalars(select(Office).order_by(Office.code).limit(1)).one()
        people = [
            {
                "member_number": f"01{i:08d}",
                "name_lo": "ທ ທົດສອບ",
                "name_latin": "Bench Payer",
                "date_of_birth": now.date().replace(year=1985),
                "sex": Sex.FEMALE,
                "national_id": f"BENCH-{i}",
                "scheme": Scheme.VOLUNTARY,
                "office_id": office.id,
                "province_code": office.province_code,
                "created_at": now,
            }
            for i in range(count)
        ]
        session.execute(insert(InsuredPerson), people)
        person_ids = dict(session.execute(select(InsuredPerson.member_number, InsuredPerson.id)).all())
        session.execute(
            insert(Member),
            [
                {
                    "phone": f"+85620{3000000 + i:08d}",
                    "pin_hash": "x",
                    "insured_person_id": person_ids[f"01{i:08d}"],
                    "office_id": office.id,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )
        member_ids = dict(session.execute(select(Member.insured_person_id, Member.id)).all())
        numbers: set[str] = set()
        while len(numbers) < count:
            numbers.add(new_bill_number())
        bills = []
        for i, number in enumerate(sorted(numbers)):
            person_id = person_ids[f"01{i:08d}"]
            bills.append(
                {
                    "number": number,
                    "insured_person_id": person_id,
                    "member_id": member_ids[person_id],
                    "office_id": office.id,
                    "amount": 225_000,
                    "declared_base": 2_500_000,
                    "status": BillStatus.OPEN,
                    "expires_at": now.replace(year=now.year + 1),
                    "created_at": now,
                    "updated_at": now,
                    "sms_sent": 0,
                }
            )
        session.execute(insert(Bill), bills)
        rows = session.execute(select(Bill.id, Bill.insured_person_id)).all()
        session.execute(
            insert(BillMonth),
            [
                {
                    "bill_id": bill_id,
                    "insured_person_id": person_id,
                    "period": period,
                    "amount": 225_000,
                    "arrear": False,
                    "held": True,
                }
                for bill_id, person_id in rows
            ],
        )
        session.commit()
    engine.dispose()
    return [(b["number"], b["amount"]) for b in bills]


class Client:
    """One keep-alive connection; counts answers by status."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str], expected: int) -> None:
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.errors.append(f"{path}: {type(exc).__name__}")
            return
        self.latencies.append(time.perf_counter() - started)
        if status != expected:
            self.errors.append(f"{path}: HTTP {status}")


def run_load(port: int, clients: int, jobs: list[Any], make: Any) -> dict[str, Any]:
    """Send ``jobs`` (each turned into a request by ``make``) from ``clients`` threads; rate and latency."""
    pool = [Client(port) for _ in range(clients)]
    slices = [jobs[k::clients] for k in range(clients)]

    def drive(client: Client, work: list[Any]) -> None:
        for job in work:
            client.send(*make(job))

    threads = [threading.Thread(target=drive, args=(c, w), daemon=True) for c, w in zip(pool, slices, strict=True)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies = [value for client in pool for value in client.latencies]
    errors = [error for client in pool for error in client.errors]
    return {
        "requests": len(jobs),
        "seconds": round(seconds, 3),
        "per_second": round(len(jobs) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "errors": len(errors),
        "error_samples": errors[:5],
    }


def callback_order(transactions: list[str], rng: random.Random) -> tuple[list[str], int, int]:
    """Each transaction once, 20% of them a second time, and 10% of the deliveries moved out of order."""
    duplicates = rng.sample(transactions, len(transactions) // 5)
    order = list(transactions)
    for duplicate in duplicates:  # the repeat comes some time after the original
        order.insert(rng.randrange(order.index(duplicate) + 1, len(order) + 1), duplicate)
    moved = len(order) // 10
    for _ in range(moved):  # a later callback overtakes an earlier one
        i = rng.randrange(len(order) - 1)
        j = rng.randrange(i + 1, min(len(order), i + 200))
        order[i], order[j] = order[j], order[i]
    return order, len(duplicates), moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bills", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="lsso-mobile worker processes")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for every credit")
    parser.add_argument(
        "--baseline-requests", type=int, default=4000, help="requests to the trivial endpoint (at most the callbacks)"
    )
    args = parser.parse_args()

    from sqlalchemy import create_engine, func, select

    from lsso_mobile.config import load_settings
    from lsso_mobile.models import Bill, BillStatus, Notification, Payment, PaymentReview, PaymentStatus, SmsMessage
    from lsso_mobile.services.payment_providers import sign

    rng = random.Random(20261203)
    workdir = Path(tempfile.mkdtemp(prefix="lsso-bench-pay-"))
    prefix = f"lsso-bench-pay-{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {
        "benchmark": "payments",
        "bills": args.bills,
        "clients": args.clients,
        "gunicorn_workers": args.gunicorn_workers,
        "workers": args.workers,
    }
    problems: list[str] = []
    bank = BankProcess()
    processes: list[subprocess.Popen] = []
    try:
        with throwaway_database("lsso_bench_pay") as database_url:
            settings = load_settings(
                environ={},
                env="test",
                database_url=database_url,
                instance_dir=str(workdir),
                log_level="WARNING",
                password_hashing="fast",
                redis_url=REDIS_URL,
                queue_prefix=prefix,
                payment_provider_url=bank.url,
                payment_callback_secret=SECRET,
                payment_callback_window_seconds=3600,
                anonymous_writes_per_minute=1_000_000,  # the baseline's reads are not limited; this is fairness
            )
            started = time.perf_counter()
            bills = seed(database_url, args.bills)
            result["seed_seconds"] = round(time.perf_counter() - started, 1)
            transactions = [f"TXB{i:07d}" for i in range(len(bills))]
            bank.record(
                [
                    {"transaction_id": tx, "bill_number": number, "amount": amount}
                    for tx, (number, amount) in zip(transactions, bills, strict=True)
                ]
            )
            order, duplicates, moved = callback_order(transactions, rng)
            result.update(callbacks=len(order), duplicates=duplicates, out_of_order_swaps=moved)

            port = free_port()
            server = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "-w",
                    str(args.gunicorn_workers),
                    "-k",
                    "gthread",
                    "--threads",
                    "4",
                    "--keep-alive",
                    "300",
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
            processes.append(server)
            wait_http(port)
            for k in range(args.workers):
                processes.append(start_worker(settings, workdir / f"worker-{k}.log"))

            def baseline_request(_: int) -> tuple[str, str, None, dict[str, str], int]:
                return ("GET", "/api/v1/provinces", None, {}, 200)

            def callback_request(tx: str) -> tuple[str, str, bytes, dict[str, str], int]:
                body = json.dumps({"transaction_id": tx}, separators=(",", ":")).encode()
                stamp = str(int(time.time()))
                headers = {
                    "Content-Type": "application/json",
                    "X-Timestamp": stamp,
                    "X-Signature": sign(SECRET, stamp, body),
                }
                return ("POST", "/api/v1/payments/callbacks/sandbox", body, headers, 202)

            run_load(port, args.clients, list(range(min(200, len(order)))), baseline_request)  # warm up
            half = len(order) // 2
            base_half = min(args.baseline_requests, len(order)) // 2
            result["baseline_requests"] = 2 * base_half
            baseline = [run_load(port, args.clients, list(range(base_half)), baseline_request)]
            callbacks = [run_load(port, args.clients, order[:half], callback_request)]
            baseline.append(run_load(port, args.clients, list(range(base_half)), baseline_request))
            callbacks.append(run_load(port, args.clients, order[half:], callback_request))
            last_callback = time.perf_counter()

            def combined(parts: list[dict[str, Any]]) -> dict[str, Any]:
                requests = sum(p["requests"] for p in parts)
                seconds = sum(p["seconds"] for p in parts)
                return {
                    "requests": requests,
                    "per_second": round(requests / seconds, 1),
                    "p50_ms": max(p["p50_ms"] for p in parts),
                    "p99_ms": max(p["p99_ms"] for p in parts),
                    "errors": sum(p["errors"] for p in parts),
                    "error_samples": [e for p in parts for e in p["error_samples"]][:5],
                }

            result["baseline"] = combined(baseline)
            result["callback"] = combined(callbacks)
            result["ratio"] = round(result["callback"]["per_second"] / result["baseline"]["per_second"], 3)
            for name in ("baseline", "callback"):
                if result[name]["errors"]:
                    problems.append(f"{name} requests failed: {result[name]['error_samples']}")

            engine = create_engine(database_url)
            deadline = time.monotonic() + args.timeout
            with engine.connect() as connection:

                def count(query: Any) -> int:
                    return int(connection.execute(query).scalar_one())

                while time.monotonic() < deadline:
                    unsettled = count(
                        select(func.count()).select_from(Payment).where(Payment.status == PaymentStatus.UNCONFIRMED)
                    )
                    if unsettled == 0:
                        break
                    connection.rollback()
                    time.sleep(0.5)
                # time spent sending callbacks, plus the wait after the last one (the baseline's half between
                # the two callback halves is not counted)
                settle = time.perf_counter() - last_callback
                result["settled_after_last_callback_seconds"] = round(settle, 2)
                result["all_credited_seconds"] = round(sum(p["seconds"] for p in callbacks) + settle, 2)
                result["credits_per_second"] = round(len(bills) / result["all_credited_seconds"], 1)
                credited = count(
                    select(func.count()).select_from(Payment).where(Payment.status == PaymentStatus.CREDITED)
                )
                counts = {
                    "payments": count(select(func.count()).select_from(Payment)),
                    "credited": credited,
                    "bills_paid": count(select(func.count()).select_from(Bill).where(Bill.status == BillStatus.PAID)),
                    "reviews": count(select(func.count()).select_from(PaymentReview)),
                    "receipt_notices": count(
                        select(func.count())
                        .select_from(Notification)
                        .where(Notification.template == "contribution_payment_received")
                    ),
                    "receipt_sms": count(
                        select(func.count()).select_from(SmsMessage).where(SmsMessage.purpose == "payment_receipt")
                    ),
                    "members_with_two_receipts": count(
                        select(func.count()).select_from(
                            select(Notification.member_id)
                            .where(Notification.template == "contribution_payment_received")
                            .group_by(Notification.member_id)
                            .having(func.count() > 1)
                            .subquery()
                        )
                    ),
                }
            engine.dispose()
            result.update(counts)
            result["credited_twice"] = counts["members_with_two_receipts"]
            result["lost"] = len(bills) - counts["bills_paid"]
            for key in ("payments", "credited", "bills_paid", "receipt_notices", "receipt_sms"):
                if counts[key] != len(bills):
                    problems.append(f"{key}: {counts[key]}, expected {len(bills)}")
            problems += [f"{key}: {result[key]}" for key in ("reviews", "credited_twice", "lost") if result[key]]
            result["targets"] = {"ratio": 0.5}
            result["met"] = {"ratio": result["ratio"] >= 0.5}
    finally:
        for process in reversed(processes):
            stop_process(process)
        bank.stop()
        clear_redis_prefix(REDIS_URL, prefix)
    finish(result, problems)


if __name__ == "__main__":
    main()
