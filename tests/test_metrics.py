"""The metrics endpoint is not public, counts requests per route (the URL rule, never the raw path), and
request ids are accepted, made and echoed. The whole scenario with workers: tests/notify/test_observability.py."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lsso_mobile import logs
from lsso_mobile.metrics import sms_parts
from tests.support import bearer, sign_up

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}
TOKEN = "metrics-token-0123456789-abcdef"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


@pytest.fixture
def settings_overrides():
    return {"metrics_token": TOKEN}


def test_metrics_are_refused_from_outside_and_answer_inside_or_with_the_token(client):
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    wrong = {"Authorization": "Bearer not-the-token-0123456789"}
    assert client.get("/metrics", environ_base=OUTSIDE, headers=wrong).status_code == 404
    assert client.get("/metrics", environ_base=OUTSIDE, headers=bearer(TOKEN)).status_code == 200
    assert client.get("/metrics").status_code == 200  # the test client calls from 127.0.0.1
    inside_v6 = client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"})
    assert inside_v6.status_code == 200 and b"lsso_http_requests_total" in inside_v6.data


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": 1, "metrics_networks": ("10.0.0.0/8",)}])
def test_behind_a_proxy_the_caller_from_outside_is_outside(client):
    """The proxy is on an allowed network; a caller it forwards from the internet is still refused."""
    proxy = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=proxy).status_code == 200
    forwarded = client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "198.51.100.7"})
    assert forwarded.status_code == 404


def test_requests_are_counted_per_route_rule_and_status(client, sms_gateway):
    before = scrape(client)
    member = bearer(sign_up(client, sms_gateway, "+8562055584001")["access_token"])
    for notification_id in (101, 102, 103):  # three raw paths, one route
        assert client.post(f"/api/v1/me/notifications/{notification_id}/read", headers=member).status_code == 404
    wrong_pin = client.post("/api/v1/auth/login", json={"phone": "+8562055584001", "pin": "000000"})
    assert wrong_pin.status_code == 401
    after = scrape(client)
    route = "/api/v1/me/notifications/<int:notification_id>/read"
    counted = value(after, "lsso_http_requests_total", route=route, method="POST", status="404")
    assert counted - value(before, "lsso_http_requests_total", route=route, method="POST", status="404") == 3
    signup = dict(route="/api/v1/auth/signup", method="POST", status="201")
    assert value(after, "lsso_http_requests_total", **signup) - value(before, "lsso_http_requests_total", **signup) == 1
    histogram = dict(route=route, method="POST")
    assert (
        value(after, "lsso_http_request_duration_seconds_count", **histogram)
        - value(before, "lsso_http_request_duration_seconds_count", **histogram)
        == 3
    )
    assert not any("/101/" in str(labels) for _name, labels in after)  # never the raw path
    failures = value(after, "lsso_sign_in_failures_total", who="member")
    assert failures - value(before, "lsso_sign_in_failures_total", who="member") == 1
    assert value(after, "lsso_state_probe_ok") == 1.0
    assert (("lsso_outbox_oldest_seconds", (("outbox", "notifications"),))) in after


@pytest.mark.parametrize("settings_overrides", [{"otp_sends_per_phone_per_ip": 1}])
def test_limit_refusals_are_counted_by_their_error_code(client, sms_gateway):
    before = scrape(client)
    assert client.post("/api/v1/auth/otp", json={"phone": "+8562055584002"}).status_code == 202
    refused = client.post("/api/v1/auth/otp", json={"phone": "+8562055584002"})
    assert refused.status_code == 429
    error = refused.json.get("error", "too_many_requests")  # the fallback label when a 429 names no code
    after = scrape(client)
    assert (
        value(after, "lsso_limit_refusals_total", error=error) - value(before, "lsso_limit_refusals_total", error=error)
        == 1
    )


def test_request_ids_are_accepted_when_well_formed_made_otherwise_and_echoed(client, caplog):
    caplog.set_level(logging.INFO)
    given = client.get("/api/v1/health", headers={"X-Request-Id": "edge-7f3a9c2e11d04b5c"})
    assert given.headers["X-Request-Id"] == "edge-7f3a9c2e11d04b5c"
    for bad in ("short", "x" * 101, "has space in it", "semi;colon-0123456", "-starts-with-a-dash"):
        made = client.get("/api/v1/health", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
        assert made != bad and len(made) == 32
    first = client.get("/api/v1/health").headers["X-Request-Id"]
    assert first != client.get("/api/v1/health").headers["X-Request-Id"]
    assert logs.current_request_id() is None  # nothing leaks out of the request


def test_json_log_lines_carry_the_request_id():
    formatter = logs.JsonFormatter()
    with logs.request_context("trace-0123456789"):
        record = logging.getLogRecordFactory()("lsso_mobile.x", logging.INFO, __file__, 1, "sent %d", (3,), None)
    line = json.loads(formatter.format(record))
    assert line["message"] == "sent 3" and line["request_id"] == "trace-0123456789" and line["level"] == "INFO"


@pytest.mark.parametrize(
    ("text", "parts"),
    [("A" * 160, 1), ("A" * 161, 2), ("ລ" * 70, 1), ("ລ" * 71, 2), ("ລ" * 134, 2), ("ລ" * 135, 3), ("{" * 80, 1)],
)
def test_sms_parts_follow_gsm7_and_ucs2(text, parts):
    assert sms_parts(text) == parts
