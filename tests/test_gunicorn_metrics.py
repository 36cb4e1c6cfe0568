"""Under gunicorn with two processes, ``/metrics`` sums every process's counters (prometheus_client's
multiprocess mode, set up by gunicorn.conf.py), whichever process answers the scrape."""

from __future__ import annotations

import os

import pytest
import requests

from tests.conftest import REDIS_URL, clean_database
from tests.contract.service import running_service
from tests.test_metrics import samples, value

pytestmark = pytest.mark.slow

REQUESTS = 30


def test_two_gunicorn_processes_report_one_sum(database_url, tmp_path):
    clean_database(database_url)
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"left over from a previous run")  # emptied at start
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    try:
        with running_service(database_url, REDIS_URL, tmp_path / "service", seed_demo=False) as service:
            for _ in range(REQUESTS):
                with requests.Session() as fresh:  # a new connection each time: both processes take some
                    assert fresh.get(f"{service.base_url}/api/v1/provinces", timeout=10).status_code == 200
            route = {"route": "/api/v1/provinces", "method": "GET", "status": "200"}
            seen = []
            for _ in range(8):
                with requests.Session() as fresh:
                    answer = fresh.get(f"{service.base_url}/metrics", timeout=10)
                assert answer.status_code == 200
                seen.append(value(samples(answer.text), "lsso_http_requests_total", **route))
            writers = {path.name.rsplit("_", 1)[1] for path in multiproc.glob("counter_*.db")}
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    assert seen == [REQUESTS] * 8
    assert "999999.db" not in writers and len(writers) >= 2  # both processes wrote their own counters
