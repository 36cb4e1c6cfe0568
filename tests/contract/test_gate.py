"""The contract gate can fail: on a copy of the app whose one response breaks its documented schema,
the same schemathesis run that `make test` gates on exits non-zero and names the schema check; on the
real app, the same operation passes. Runs gunicorn, a worker and Redis like the full gate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL
from tests.contract.run import run_schemathesis
from tests.contract.service import running_service
from tests.scratch_db import scratch_postgres_database

OPERATION = "/api/v1/provinces"


@pytest.fixture
def gate_database() -> Iterator[str]:
    """PostgreSQL, as the gate itself runs (the SQLite pass leaves tests/contract out: see the Makefile)."""
    with scratch_postgres_database(POSTGRES_ADMIN_URL, "lsso_gate") as url:
        yield url


@pytest.mark.parametrize(
    "wsgi, should_pass",
    [("tests.contract.broken_app:app", False), ("wsgi:app", True)],
    ids=["one-response-off-schema", "real-app"],
)
def test_the_gate_fails_on_a_response_that_breaks_the_document(gate_database, tmp_path, wsgi, should_pass):
    with running_service(gate_database, REDIS_URL, tmp_path / "service", wsgi=wsgi, gunicorn_workers=1) as service:
        result = run_schemathesis(service, "member", max_examples=5, include_path=OPERATION)
    assert result.test_cases > 0, result.summary
    if should_pass:
        assert result.exit_code == 0, result.summary
    else:
        assert result.exit_code != 0, result.summary
        assert "Response violates schema" in result.summary, result.summary
        assert f"GET {OPERATION}" in result.summary
