"""Every benchmark in bench/ at a tiny size, so a change that breaks one fails the suite.

Only correctness is checked, never speed: the benchmark ran to its end, answered every request,
repeated nothing and missed nothing (each bench counts these itself and exits 1 when one is not
zero), and printed its JSON object, with the figures it reports, on its last line. The full-size
runs are for people (the commands are in each script's docstring).

The benchmarks create their own PostgreSQL databases, so they run in the PostgreSQL pass only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKEND, POSTGRES_ADMIN_URL, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        BACKEND == "sqlite", reason="the benchmarks use PostgreSQL themselves: the PostgreSQL pass runs them"
    ),
]


def run_bench(script: str, *args: str, timeout: int = 300) -> dict[str, Any]:
    """Run bench/<script> as a person would (from the project root) and return its last line, parsed."""
    env = {**os.environ, "BENCH_POSTGRES_URL": POSTGRES_ADMIN_URL, "BENCH_REDIS_URL": REDIS_URL}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    said = (
        f"bench/{script} exited {done.returncode} after {seconds:.0f} s\n"
        f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    )
    lines = done.stdout.strip().splitlines()
    assert lines, said
    result = json.loads(lines[-1])
    assert result.get("problems") == [] and result.get("correct") is True, said
    assert done.returncode == 0, said
    return result


def has(result: dict[str, Any], *keys: str) -> None:
    missing = [key for key in keys if key not in result]
    assert not missing, f"{result.get('benchmark')} no longer reports {missing}"


def test_broadcast_reaches_every_unmuted_device_once() -> None:
    members = 300
    result = run_bench("broadcast.py", "--members", str(members), "--workers", "1", "--timeout", "120")
    has(
        result,
        "preview_ms",
        "sending_started_seconds",
        "slices",
        "first_push_after_seconds",
        "delivery_per_second",
        "ceiling_per_second",
        "ratio",
        "worker_peak_rss_mb",
        "targets",
        "met",
    )
    expected = members - members // 100  # one member in a hundred mutes "news"
    assert result["benchmark"] == "broadcast"
    assert (result["duplicates"], result["misses"], result["unexpected"]) == (0, 0, 0)
    assert result["delivered"] == expected
    assert result["status"] == "sent"
    assert result["stats_totals"]["sent"] == expected and result["stats_totals"]["muted"] == members // 100
    assert result["slices"] >= 1


def test_contributions_answers_every_request() -> None:
    result = run_bench(
        "contributions.py",
        "--rows", "20000", "--seconds", "2", "--clients", "2", "--gunicorn-workers", "1", "--warmup", "0.5",
    )  # fmt: skip
    has(result, "tenth", "full", "bytes", "p99_full_vs_tenth", "targets", "met")
    assert result["benchmark"] == "contributions"
    assert result["errors"] == 0
    for step in ("tenth", "full"):
        for name in ("baseline", "summary", "list"):
            figures = result[step][name]
            assert figures["requests"] > 0 and figures["errors"] == 0, (step, name, figures)
            has(figures, "rps", "p50_ms", "p99_ms")
    assert result["full"]["rows"] == 20000 // 120 * 120
    assert 0 < result["tenth"]["rows"] < result["full"]["rows"]
    assert result["bytes"]["resync_304_body_bytes"] == 0


def test_messaging_stores_every_message_and_pushes_every_reply_once() -> None:
    result = run_bench(
        "messaging.py",
        "--members", "6", "--officers", "2", "--seconds", "5", "--think", "0.5", "--gunicorn-workers", "1",
    )  # fmt: skip
    has(result, "requests_per_second", "p50_ms", "p99_ms", "by_route", "gunicorn_cpu_ms_per_request", "met")
    assert result["benchmark"] == "messaging"
    assert result["errors"] == 0 and result["retry_mismatches"] == 0
    assert result["member_messages"] > 0 and result["staff_replies"] > 0  # both sides of the load ran
    assert result["messages_stored"] == result["messages_sent"]
    assert result["pushes_received"] == result["staff_replies"]
    for key in ("messages_missing", "messages_duplicated", "pushes_missing", "pushes_duplicated"):
        assert result[key] == 0, key


def test_push_throughput_delivers_every_notice_once() -> None:
    result = run_bench("push_throughput.py", "--notifications", "500", "--rounds", "1", "--latency-samples", "5")
    has(result, "ceiling_per_second", "pipeline_per_second", "ratio", "worker_peak_rss_mb", "targets", "met")
    assert result["benchmark"] == "push_throughput"
    assert (result["duplicates"], result["missing"], result["latency_duplicates"]) == (0, 0, 0)
    assert result["latency_ms"]["samples"] == 5


def test_payments_credits_every_bill_once() -> None:
    result = run_bench("payments.py", "--bills", "40", "--clients", "2", "--gunicorn-workers", "1", "--timeout", "120")
    has(result, "baseline", "callback", "ratio", "all_credited_seconds", "credits_per_second", "targets", "met")
    assert result["benchmark"] == "payments"
    assert result["callbacks"] == 48 and result["duplicates"] == 8 and result["out_of_order_swaps"] == 4
    assert result["baseline"]["errors"] == result["callback"]["errors"] == 0
    assert (result["credited"], result["bills_paid"], result["payments"]) == (40, 40, 40)
    assert (result["credited_twice"], result["lost"], result["reviews"]) == (0, 0, 0)
    assert result["receipt_notices"] == result["receipt_sms"] == 40


def test_cards_bench_smoke() -> None:
    """Card size with a long Lao name fits a version-13 QR at level M; the rates are reported, not judged."""
    result = run_bench("cards.py", "--seconds", "0.2")
    has(
        result,
        "sizes",
        "verifications_per_second_per_core",
        "signings_per_second_per_core",
        "baseline_jwt_verifications_per_second",
        "ratio_to_jwt_verification",
    )
    long_name = result["sizes"]["long_name"]
    assert long_name["qr_error"] == "M" and long_name["qr_mode"] == "alphanumeric"
    assert long_name["qr_version"] <= 13 and long_name["name_chars"] == 53
    assert result["verifications_per_second_per_core"] > 0 and result["signings_per_second_per_core"] > 0


def test_sms_fallback_sends_one_sms_per_unacknowledged_notice_and_none_else() -> None:
    result = run_bench("sms_fallback.py", "--notices", "1000", "--members", "20", "--history", "500", "--due", "20")
    has(result, "scan_seconds", "scan_growth", "naive_growth", "growth_small", "growth_large", "sms_parts")
    assert result["never_acknowledged"] == 300
    assert result["sms_queued"] == result["send_jobs"] == 300
    assert (result["missing"], result["repeated"], result["sms_for_acknowledged"]) == (0, 0, 0)
    assert result["growth_small"]["index_used"] and result["growth_large"]["index_used"]


def test_scale_out_runs_one_and_two_processes_and_repeats_nothing() -> None:
    result = run_bench(
        "scale_out.py",
        *("--notifications", "200", "--broadcast-devices", "300", "--seconds", "0.5", "--clients", "2"),
        timeout=600,  # four worker and two gunicorn starts
    )
    has(result, "pushes", "push_ratio", "broadcast", "broadcast_ratio", "reads", "read_ratios", "target", "met")
    assert result["benchmark"] == "scale_out"
    assert (result["duplicates"], result["missing"], result["read_errors"]) == (0, 0, 0)
    assert [(run["workers"], run["pushes"]) for run in result["pushes"]] == [(1, 200), (2, 200)]
    assert [(run["workers"], run["devices"]) for run in result["broadcast"]] == [(1, 300), (2, 300)]
    for run, processes in zip(result["reads"], (1, 2), strict=True):
        assert run["processes"] == processes
        for name in ("home", "contributions_summary", "inbox"):
            assert run[name]["requests"] > 0 and run[name]["errors"] == 0, (processes, name, run[name])
