"""The write-rate limiter: every writing route answers 429 with Retry-After once its caller's budget is
spent, per account when signed in and per address when not, shared between processes through Redis."""

from __future__ import annotations

import logging
import re
import socket
import time
import uuid

import pytest
from sqlalchemy import func, select

from lsso_mobile.api.rate_limits import (
    ACCOUNT_TOKEN_IN_BODY,
    SIGNED_CALLBACK_ENDPOINTS,
    WRITING_METHODS,
    WriteRateLimiter,
    build_storage,
)
from lsso_mobile.errors import TooManyRequests
from lsso_mobile.models import Member, OtpCode
from tests.api.test_errors_and_limits import UNDECLARED_OK
from tests.conftest import REDIS_URL, make_settings
from tests.messaging_support import member
from tests.support import bearer, sign_up

BUDGET = 2  # writes per minute per account
ANONYMOUS = 4  # per address: enough for two sign-ups (a code and the sign-up each) from the default address


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"writes_per_minute": BUDGET, "core_writes_per_minute": BUDGET + 1, "anonymous_writes_per_minute": ANONYMOUS}


def writing_routes(app) -> list[tuple[str, str]]:
    """(method, concrete path) for every writing route, path parameters filled with something plausible."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDECLARED_OK or rule.endpoint in SIGNED_CALLBACK_ENDPOINTS:
            continue  # bank callbacks: checked by their signature, never by address (see api/rate_limits.py)
        path = re.sub(r"<int:[^>]+>", "1", rule.rule)
        path = re.sub(r"<(?:string:)?[^>]+>", "x", path)
        routes.extend((method, path) for method in sorted(rule.methods & WRITING_METHODS))
    return routes


def within_one_minute_window() -> None:
    """Start a route's burst early in a minute: the limiter's sliding window weighs the last minute's count a little
    less as soon as a minute turns, so a burst that straddles the turn could slip one request through."""
    into_minute = time.time() % 60
    if into_minute > 50:
        time.sleep(60 - into_minute + 0.1)


def assert_limited(response) -> None:
    assert response.status_code == 429, (response.status_code, response.json)
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json["code"] == 429 and response.json["status"] == "Too Many Requests"


def test_every_writing_route_is_limited_per_address(app, client):
    routes = writing_routes(app)
    assert len(routes) > 40
    for index, (method, path) in enumerate(routes):
        address = {"REMOTE_ADDR": f"10.1.{index // 250}.{index % 250 + 1}"}
        within_one_minute_window()
        for _ in range(ANONYMOUS):
            response = client.open(path, method=method, json={}, environ_base=address)
            assert response.status_code != 429, (method, path)
        limited = client.open(path, method=method, json={}, environ_base=address)
        if path.startswith("/console/"):  # the console's pages answer HTML, with the same status and Retry-After
            assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1, path
        else:
            assert_limited(limited)


def test_a_refused_write_changes_nothing_and_reads_are_not_counted(client, db):
    address = {"REMOTE_ADDR": "10.2.0.1"}
    for i in range(ANONYMOUS):
        assert (
            client.post("/api/v1/auth/otp", json={"phone": f"+856205551230{i}"}, environ_base=address).status_code
            == 202
        )
    assert_limited(client.post("/api/v1/auth/otp", json={"phone": "+8562055512309"}, environ_base=address))
    assert db.scalar(select(func.count()).select_from(OtpCode)) == ANONYMOUS
    for _ in range(3 * BUDGET):  # reading is never counted
        assert client.get("/api/v1/provinces", environ_base=address).status_code == 200
    # Another address has its own budget.
    assert (
        client.post(
            "/api/v1/auth/otp", json={"phone": "+8562055512309"}, environ_base={"REMOTE_ADDR": "10.2.0.2"}
        ).status_code
        == 202
    )


def test_signed_in_callers_are_counted_per_account(app, client, sms_gateway, settings, db):
    address = {"REMOTE_ADDR": "10.3.0.1"}
    # Sign-up spends the address's anonymous budget (code + sign-up), not the accounts' budgets.
    first = member(client, sms_gateway, "+8562055512310")
    second = member(client, sms_gateway, "+8562055512311")
    for _ in range(BUDGET):
        response = client.patch("/api/v1/me", json={"language": "en"}, headers=first, environ_base=address)
        assert response.status_code == 200
    assert_limited(client.patch("/api/v1/me", json={"language": "lo"}, headers=first, environ_base=address))
    assert db.scalar(select(Member.language).where(Member.phone == "+8562055512310")) == "en"
    # Same address, another account: its own budget. A bad token counts against the address, not an account.
    assert client.patch("/api/v1/me", json={"language": "en"}, headers=second, environ_base=address).status_code == 200
    forged = bearer("eyJhbGciOiJFZERTQSJ9.e30.AAAA")
    for _ in range(ANONYMOUS):
        assert client.post("/api/v1/auth/logout", headers=forged, environ_base=address).status_code == 401
    assert_limited(client.post("/api/v1/auth/logout", headers=forged, environ_base=address))
    # Reading is still allowed to the limited member.
    assert client.get("/api/v1/me", headers=first, environ_base=address).status_code == 200


def test_the_core_system_has_its_own_budget(app, client, db):
    from lsso_mobile import runtime
    from lsso_mobile.services.accounts import create_integration_client

    created, secret = create_integration_client(db, runtime.current().settings, "LSSO core system")
    db.commit()
    token = client.post(
        "/api/v1/integration/token",
        json={"client_id": created.client_id, "client_secret": secret},
        environ_base={"REMOTE_ADDR": "10.4.0.1"},
    ).json["access_token"]
    body = {"records": []}
    for _ in range(BUDGET + 1):
        response = client.post(
            "/api/v1/integration/contributions",
            json=body,
            headers=bearer(token),
            environ_base={"REMOTE_ADDR": "10.4.0.2"},
        )
        assert response.status_code != 429, response.json
    assert_limited(
        client.post(
            "/api/v1/integration/contributions",
            json=body,
            headers=bearer(token),
            environ_base={"REMOTE_ADDR": "10.4.0.2"},
        )
    )


def test_processes_share_counts_through_redis(database_url, instance_dir):
    """Two limiters on one Redis stand for two gunicorn processes: the budget is the caller's, not theirs."""
    settings = make_settings(
        database_url,
        instance_dir,
        redis_url=REDIS_URL,
        queue_prefix=f"ratelimit-test-{uuid.uuid4().hex[:8]}",
        writes_per_minute=3,
    )
    one, two = (WriteRateLimiter(settings, build_storage(settings)) for _ in range(2))
    one.check("member:1", "10.5.0.1")
    two.check("member:1", "10.5.0.1")
    one.check("member:1", "10.5.0.2")
    with pytest.raises(TooManyRequests) as refused:
        two.check("member:1", "10.5.0.3")
    assert 1 <= refused.value.retry_after <= 60
    two.check("member:2", "10.5.0.1")  # another member is not affected


def test_a_token_buys_no_budget_on_public_routes(client, sms_gateway):
    """Sign-up, codes, sign-in and refresh count the address even when a signed token comes along."""
    address = {"REMOTE_ADDR": "10.7.0.1"}
    token = member(client, sms_gateway, "+8562055512320")  # the default address's budget, not 10.7.0.1's
    for i in range(ANONYMOUS):
        response = client.post(
            "/api/v1/auth/otp", json={"phone": f"+856205551233{i}"}, headers=token, environ_base=address
        )
        assert response.status_code == 202, response.json
    assert_limited(
        client.post("/api/v1/auth/otp", json={"phone": "+8562055512339"}, headers=token, environ_base=address)
    )


def test_a_refresh_counts_against_its_account_not_the_address(app, client, sms_gateway):
    """Thousands of phones refresh every quarter hour from one carrier address: refresh spends the account's
    budget when its refresh token verifies, and the address's otherwise."""
    assert set(ACCOUNT_TOKEN_IN_BODY) <= set(app.view_functions)
    address = {"REMOTE_ADDR": "10.8.0.1"}
    for i in range(ANONYMOUS):  # the address's budget is spent
        client.post("/api/v1/auth/otp", json={"phone": f"+856205551235{i}"}, environ_base=address)
    assert_limited(client.post("/api/v1/auth/otp", json={"phone": "+8562055512359"}, environ_base=address))
    refresh = sign_up(client, sms_gateway, "+8562055512360")["refresh_token"]
    for _ in range(BUDGET):
        response = client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}, environ_base=address)
        assert response.status_code == 200, response.json
        refresh = response.json["refresh_token"]
    assert_limited(client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}, environ_base=address))
    # A token that does not verify is the address's, which is spent.
    assert_limited(
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": "not-a-token"}, environ_base={"REMOTE_ADDR": "10.8.0.1"}
        )
    )


def test_ipv6_addresses_count_per_64_block(client):
    same_block = ("2001:db8:77:1::1", "2001:db8:77:1:ffff:ffff:ffff:fffe")
    for i in range(ANONYMOUS):
        response = client.post(
            "/api/v1/auth/otp", json={"phone": f"+856205551234{i}"}, environ_base={"REMOTE_ADDR": same_block[i % 2]}
        )
        assert response.status_code == 202, response.json
    assert_limited(
        client.post("/api/v1/auth/otp", json={"phone": "+8562055512349"}, environ_base={"REMOTE_ADDR": same_block[0]})
    )
    assert (
        client.post(
            "/api/v1/auth/otp", json={"phone": "+8562055512349"}, environ_base={"REMOTE_ADDR": "2001:db8:77:2::1"}
        ).status_code
        == 202
    )


@pytest.mark.parametrize("server", ["refuses", "never answers"])
def test_a_redis_that_fails_lets_writes_through_quickly_with_one_warning(database_url, instance_dir, caplog, server):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        if server == "never answers":
            silent.listen(8)  # connections are queued by the kernel and never read
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings = make_settings(database_url, instance_dir, redis_url=url, writes_per_minute=1)
        limiter = WriteRateLimiter(settings, build_storage(settings))
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="lsso_mobile.api.rate_limits"):
            for _ in range(3):
                limiter.check("member:1", "10.6.0.1")  # over the budget of 1, yet let through
        elapsed = time.monotonic() - started
    assert caplog.text.count("rate limit storage unavailable") == 1
    assert elapsed < 3.5, elapsed  # 0.5 s a check (REDIS_TIMEOUT_SECONDS), not redis-py's default of waiting


def test_the_openapi_document_gives_429_and_retry_after_on_every_writing_operation(client):
    spec = client.get("/api/openapi.json").json
    writing = [
        (path, method)
        for path, operations in spec["paths"].items()
        for method in operations
        if method.upper() in WRITING_METHODS
    ]
    assert len(writing) > 40
    for path, method in writing:
        assert "429" in spec["paths"][path][method]["responses"], (method, path)
    headers = spec["components"]["responses"]["TOO_MANY_REQUESTS_RETRY"]["headers"]
    assert "Retry-After" in headers
