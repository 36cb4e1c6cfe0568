"""The contract gate: schemathesis against the live service, as a member, an officer and an ops user.

    python -m tests.contract.run            # what `make test` runs (PostgreSQL; TEST_POSTGRES_URL, TEST_REDIS_URL)
    python -m tests.contract.run --roles member --max-examples 20    # a quicker look while working

Each role has its own fresh, seeded database and service, and the three run side by side. Every phase
(examples, coverage, fuzzing, stateful), a fixed seed, ``--max-examples 30`` (schemathesis's per-operation
setting; an operation with no inputs has only a few distinct requests to make), and the checks for server
errors, status codes, content types, response headers and schemas, and negative-data rejection. Exits
non-zero if any role's run finds anything; the last line is a JSON summary with the test cases per role,
the fewest any operation got, and the operations that got fewer than --max-examples.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from lsso_mobile.config import child_environ
from tests.contract.service import BIN, ROOT, Service, running_service

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
PHASES = ("examples", "coverage", "fuzzing", "stateful")
SEED = 20261122
MAX_EXAMPLES = 30  # about 11,000 cases per role, 3.5 minutes on 2 quiet cores; a deeper look: --max-examples 100
ROLES = ("member", "officer", "ops")
PRINT_LOCK = threading.Lock()


@dataclass
class RoleResult:
    role: str
    exit_code: int
    seconds: float
    summary: str
    test_cases: int
    operations: int = 0
    fewest_cases: int = 0  # the operation with the fewest test cases across the phases
    fewest_cases_operation: str = ""
    under_max_examples: dict[str, int] | None = None  # operations that got fewer cases than --max-examples


def run_schemathesis(
    service: Service,
    role: str,
    *,
    max_examples: int = MAX_EXAMPLES,
    seed: int = SEED,
    phases: tuple[str, ...] = PHASES,
    include_path: str | None = None,
    report_dir: Path | None = None,
) -> RoleResult:
    args = [
        str(BIN / "st"),
        "--no-color",
        "run",
        f"{service.base_url}/api/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        ",".join(phases),
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "2",
        "--continue-on-failure",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "too_slow,filter_too_much",
        "--warnings",
        "off",
        "--generation-database",
        "none",
    ]  # decided by the seed alone, not by earlier runs' examples
    if include_path:
        args += ["--include-path", include_path]
    report_dir = report_dir or service.log_dir
    events = report_dir / f"{role}.ndjson"
    args += [
        "--report",
        "junit,ndjson",
        "--report-junit-path",
        str(report_dir / f"{role}.xml"),
        "--report-ndjson-path",
        str(events),
    ]
    environ = {
        **child_environ(),
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "CONTRACT_BASE_URL": service.base_url,
        "CONTRACT_ROLE": role,
        "PYTHONPATH": str(ROOT),
    }
    started = time.monotonic()
    completed = subprocess.run(args, env=environ, cwd=ROOT, capture_output=True, text=True)
    output = completed.stdout + completed.stderr
    result = RoleResult(
        role=role,
        exit_code=completed.returncode,
        seconds=round(time.monotonic() - started, 1),
        summary=output,
        test_cases=_test_cases(output),
    )
    per_operation = cases_per_operation(events) if events.exists() else {}
    if per_operation:
        result.operations = len(per_operation)
        result.fewest_cases_operation, result.fewest_cases = min(per_operation.items(), key=lambda item: item[1])
        result.under_max_examples = {op: n for op, n in sorted(per_operation.items()) if n < max_examples}
    return result


def cases_per_operation(events: Path) -> dict[str, int]:
    """Test cases each operation got in the examples, coverage and fuzzing phases (from the NDJSON report)."""
    counts: dict[str, int] = {}
    for line in events.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if finished and finished.get("phase") in ("examples", "coverage", "fuzzing"):
            label = finished["recorder"]["label"]
            counts[label] = counts.get(label, 0) + len(finished["recorder"].get("cases", {}))
    return counts


def _test_cases(output: str) -> int:
    """The total number of generated test cases schemathesis reports ("Test cases: N generated, ...")."""
    match = re.search(r"Test cases:\s*\n?\s*(\d+) generated", output) or re.search(r"(\d+) generated", output)
    return int(match.group(1)) if match else 0


def _run_role(role: str, database_url: str, work_dir: Path, options: argparse.Namespace) -> RoleResult:
    """One role on its own fresh, seeded database and service, so each run is reproducible on its own."""
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    with running_service(database_url, redis_url, work_dir) as service:
        result = run_schemathesis(
            service, role, max_examples=options.max_examples, seed=options.seed, report_dir=options.report_dir
        )
        lines = [f"--- schemathesis as {role}: exit {result.exit_code} in {result.seconds} s"]
        if result.exit_code != 0:
            lines.append(result.summary[-20000:])
            for log in ("gunicorn.log", "worker.log"):
                lines.append(f"--- {log} (tail)\n" + (service.log_dir / log).read_text(errors="replace")[-4000:])
        else:
            output = result.summary.strip().splitlines()
            lines += [line for line in output if re.search(r"\((in [0-9.]+s)\)", line)] + output[-10:]
        with PRINT_LOCK:
            print("\n".join(lines), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--max-examples", type=int, default=MAX_EXAMPLES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--report-dir", type=Path, default=None)
    options = parser.parse_args(argv)

    from tests.scratch_db import scratch_postgres_database

    admin_url = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    roles = options.roles.split(",")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lsso-contract-")))
        # Databases one after another (Alembic's migration context is process-wide, not per thread) ...
        databases = [stack.enter_context(scratch_postgres_database(admin_url, "lsso_contract")) for _ in roles]
        # ... then the roles side by side: schemathesis is bound by one core, the service by the other.
        with ThreadPoolExecutor(max_workers=len(roles)) as pool:
            futures = [
                pool.submit(_run_role, role, database, tmp / role, options)
                for role, database in zip(roles, databases, strict=True)
            ]
            results = [future.result() for future in futures]
    summary = {
        "passed": all(r.exit_code == 0 for r in results),
        "seed": options.seed,
        "max_examples": options.max_examples,
        "roles": [{k: v for k, v in asdict(r).items() if k != "summary"} for r in results],
    }
    print(json.dumps(summary))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
