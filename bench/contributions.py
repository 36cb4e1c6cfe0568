"""Contribution summary and record under load, against a trivial endpoint of the same app.

    python bench/contributions.py [--rows N] [--seconds S] [--clients C] [--gunicorn-workers W] [--warmup S]

Loads a synthetic population into PostgreSQL (120 monthly rows per insured person, default 10
million rows in all; first a tenth of it), then drives, under gunicorn with C concurrent clients
for S seconds each: the member summary, the first page of the contribution list, and
GET /api/v1/me/devices (authenticated, one small query) as the baseline. The same figures are
taken at one tenth of the rows and at all of them. Also the bytes of a typical member's summary
+ first page (gzipped) and of an unchanged re-sync (304). The last line is JSON; the exit status is 1
when a request went unanswered or was answered with anything but 200 (targets missed are only reported).
At the default size, loading 10 million rows takes most of the run (several minutes); the measurements
take 6 x (warm-up + S) seconds, under 2 minutes at the defaults.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.common import (  # noqa: E402
    ROOT,
    finish,
    free_port,
    percentile,
    stop_process,
    throwaway_database,
    wait_http,
    worker_env,
)

MONTHS = 120  # 2016-11 .. 2026-10
APP_USERS = 2000


def load_people(engine, first: int, last: int) -> None:
    """Insured persons first..last with 120 months each; every 7th month of every 5th person unpaid."""
    with engine.begin() as connection:
        connection.execute(
            text("""
            INSERT INTO insured_persons (id, member_number, name_lo, name_latin, date_of_birth, sex, national_id,
                                         scheme, office_id, province_code, created_at)
            SELECT g, lpad(g::text, 10, '0'), 'ທ້າວ ທົດສອບ', 'Test ' || g, DATE '1970-01-01' + (g % 15000),
                   CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END, 'ID' || g,
                   CASE WHEN g % 3 = 0 THEN 'voluntary' ELSE 'compulsory' END,
                   (SELECT id FROM offices WHERE code = 'P01'), '01', now()
            FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
        """),
            {"first": first, "last": last},
        )
        connection.execute(
            text("""
            INSERT INTO contributions (insured_person_id, period, scheme, employer_name, employer_registration_no,
                                       insurable_earnings, employee_share, employer_share, total, status, paid_date,
                                       payment_channel, receipt_reference, source_id, created_at, updated_at)
            SELECT p, to_char(DATE '2016-11-01' + make_interval(months => m), 'YYYY-MM'),
                   CASE WHEN p % 3 = 0 THEN 'voluntary' ELSE 'compulsory' END,
                   CASE WHEN p % 3 = 0 THEN NULL ELSE 'Employer ' || (p % 997) END,
                   CASE WHEN p % 3 = 0 THEN NULL ELSE 'ER-' || (p % 997) END,
                   2000000, 110000, CASE WHEN p % 3 = 0 THEN 0 ELSE 120000 END,
                   CASE WHEN p % 3 = 0 THEN 110000 ELSE 230000 END,
                   CASE WHEN p % 5 = 0 AND m % 7 = 0 THEN 'unpaid' WHEN m % 11 = 0 THEN 'late' ELSE 'paid' END,
                   CASE WHEN p % 5 = 0 AND m % 7 = 0 THEN NULL
                        ELSE DATE '2016-11-15' + make_interval(months => m) END,
                   'bank', 'RC-' || p || '-' || m, 'c-' || p || '-' || m, now(), now()
            FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS p
                 CROSS JOIN generate_series(0, CAST(:months AS integer) - 1) AS m
        """),
            {"first": first, "last": last, "months": MONTHS},
        )
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('insured_persons', 'id'), :last)"), {"last": last}
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE contributions"))
        connection.execute(text("VACUUM ANALYZE insured_persons"))


def app_users(engine, keyring, person_ids: list[int], settings) -> list[str]:
    """Member accounts linked to the given persons, each signed in: returns access tokens."""
    from lsso_mobile.models import utcnow

    now = utcnow()
    tokens = []
    with engine.begin() as connection:
        for person_id in person_ids:
            member_id = connection.execute(
                text("""
                INSERT INTO members (phone, pin_hash, language, insured_person_id, failed_logins, created_at,
                                     updated_at)
                VALUES (:phone, 'x', 'lo', :person, 0, now(), now())
                ON CONFLICT (insured_person_id) DO UPDATE SET updated_at = now() RETURNING id
            """),
                {"phone": f"+85620{person_id:08d}", "person": person_id},
            ).scalar()
            session_id = str(uuid.uuid4())
            connection.execute(
                text("INSERT INTO auth_sessions (id, member_id, created_at) VALUES (:id, :m, now())"),
                {"id": session_id, "m": member_id},
            )
            token, _ = keyring.encode(
                f"member:{member_id}", "access", timedelta(hours=2), now, role="member", sid=session_id, office=None
            )
            tokens.append(token)
    return tokens


def drive(port: int, path: str, tokens: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], 0
        while time.monotonic() < deadline:
            token = rng.choice(tokens)
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"})
                response = connection.getresponse()
                response.read()
                bad += response.status != 200
            except (OSError, http.client.HTTPException):  # unanswered: an error, and a new connection
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                bad += 1
            mine.append((time.perf_counter() - started) * 1000)
        connection.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "requests": len(latencies),
        "errors": errors,
    }


def measure(port: int, tokens: list[str], clients: int, seconds: float, warmup: float) -> dict:
    figures: dict = {"warmup_errors": 0}
    for name, path in (
        ("baseline", "/api/v1/me/devices"),
        ("summary", "/api/v1/me/contributions/summary"),
        ("list", "/api/v1/me/contributions?limit=12"),
    ):
        figures["warmup_errors"] += drive(port, path, tokens, clients, warmup)["errors"]
        figures[name] = drive(port, path, tokens, clients, seconds)
    figures["summary_vs_baseline"] = round(figures["summary"]["rps"] / figures["baseline"]["rps"], 3)
    figures["list_vs_baseline"] = round(figures["list"]["rps"] / figures["baseline"]["rps"], 3)
    return figures


def sizes(port: int, token: str) -> dict:
    def get(path: str, headers: dict) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request(
            "GET", path, headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip", **headers}
        )
        response = connection.getresponse()
        response.body = response.read()
        connection.close()
        return response

    summary = get("/api/v1/me/contributions/summary", {})
    first_page = get("/api/v1/me/contributions?limit=12", {})
    unchanged = get("/api/v1/me/contributions/summary", {"If-None-Match": summary.getheader("ETag")})
    assert json.loads(gzip.decompress(summary.body)) and unchanged.status == 304
    return {
        "summary_gzip_bytes": len(summary.body),
        "first_page_gzip_bytes": len(first_page.body),
        "summary_plus_first_page_gzip_bytes": len(summary.body) + len(first_page.body),
        "resync_304_body_bytes": len(unchanged.body),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up before each measurement")
    args = parser.parse_args()

    from lsso_mobile.config import load_settings
    from lsso_mobile.services.tokens import KeyRing, generate_private_key_pem

    people = max(20, args.rows // MONTHS)
    tenth = max(10, people // 10)
    workdir = Path(tempfile.mkdtemp(prefix="lsso-bench-contrib-"))
    key_file = workdir / "jwt.pem"
    key_file.write_bytes(generate_private_key_pem())
    result: dict = {
        "benchmark": "contributions",
        "months_per_person": MONTHS,
        "clients": args.clients,
        "gunicorn_workers": args.gunicorn_workers,
    }
    with throwaway_database("lsso_bench_contrib") as database_url:
        settings = load_settings(
            environ={},
            env="test",
            database_url=database_url,
            instance_dir=str(workdir),
            jwt_private_key_file=str(key_file),
            log_level="WARNING",
            password_hashing="fast",
        )
        engine = create_engine(database_url)
        keyring = KeyRing.from_settings(settings)
        port = free_port()
        env = worker_env(settings)
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-w",
                str(args.gunicorn_workers),
                "-k",
                "gthread",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            env=env,
            cwd=ROOT,
            stdout=(workdir / "gunicorn.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(port)
            for step, (first, last) in (("tenth", (1, tenth)), ("full", (tenth + 1, people))):
                started = time.perf_counter()
                load_people(engine, first, last)
                rows = engine.connect().execute(text("SELECT count(*) FROM contributions")).scalar()
                sample = random.Random(step).sample(range(1, last + 1), min(APP_USERS, last))
                tokens = app_users(engine, keyring, sample, settings)
                figures = measure(port, tokens, args.clients, args.seconds, args.warmup)
                figures["rows"] = rows
                figures["load_seconds"] = round(time.perf_counter() - started, 1)
                result[step] = figures
            result["bytes"] = sizes(port, tokens[0])
        finally:
            stop_process(server)
            engine.dispose()
    full, tenth_figures = result["full"], result["tenth"]
    result["p99_full_vs_tenth"] = round(full["summary"]["p99_ms"] / max(tenth_figures["summary"]["p99_ms"], 0.1), 3)
    result["targets"] = {
        "summary_p99_ms_at_full": "<= 50",
        "summary_vs_baseline": ">= 0.5",
        "p99_full_vs_tenth": "<= 1.5",
        "summary_plus_first_page_gzip_bytes": "<= 4096",
    }
    result["met"] = {
        "p99": full["summary"]["p99_ms"] <= 50 and full["list"]["p99_ms"] <= 50,
        "throughput": full["summary_vs_baseline"] >= 0.5,
        "growth": result["p99_full_vs_tenth"] <= 1.5,
        "bytes": result["bytes"]["summary_plus_first_page_gzip_bytes"] <= 4096,
    }
    phases = [(step, name) for step in ("tenth", "full") for name in ("baseline", "summary", "list")]
    result["requests"] = sum(result[step][name]["requests"] for step, name in phases)
    result["errors"] = sum(result[step][name]["errors"] for step, name in phases) + sum(
        result[step]["warmup_errors"] for step in ("tenth", "full")
    )
    problems = [f"{step} {name}: no request made" for step, name in phases if not result[step][name]["requests"]]
    if result["errors"]:
        problems.append(f"errors: {result['errors']} requests unanswered or not 200")
    finish(result, problems)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
