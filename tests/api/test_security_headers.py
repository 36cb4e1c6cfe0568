"""Security headers on every response; CORS only for configured origins."""

from __future__ import annotations

import dataclasses

import pytest

from lsso_mobile import create_app, runtime
from lsso_mobile.config import ConfigError, load_settings
from tests.support import bearer, sign_up

ORIGIN = "https://staff.lsso.example"


@pytest.fixture
def settings_overrides():
    return {"cors_origins": (ORIGIN,)}


def _check_headers(response, name: str) -> None:
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", name
    assert headers.get("X-Frame-Options") == "DENY", name
    assert headers.get("Referrer-Policy") == "no-referrer", name
    assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), name


def test_every_kind_of_response_carries_the_headers(app, client, sms_gateway):
    member = bearer(sign_up(client, sms_gateway, "+8562055586001")["access_token"])
    responses = {
        "json 200": client.get("/api/v1/me", headers=member),
        "health": client.get("/api/v1/health"),
        "spec": client.get("/api/openapi.json"),
        "docs": client.get("/api/docs"),
        "401": client.get("/api/v1/me"),
        "404": client.get("/api/v1/nowhere"),
        "405": client.delete("/api/v1/health"),
        "422": client.post("/api/v1/auth/otp", json={"phone": "nonsense"}),
    }
    for name, response in responses.items():
        _check_headers(response, name)
    assert responses["json 200"].headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in responses["json 200"].headers["Content-Security-Policy"]
    assert "script-src 'self'" in responses["docs"].headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in responses["health"].headers  # production only
    assert app.debug is False


def test_cors_answers_only_configured_origins(client):
    allowed = client.options("/api/v1/health", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    other = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_no_cors_unless_configured_and_origins_are_checked(settings):
    plain = create_app(dataclasses.replace(settings, cors_origins=()))
    try:
        response = plain.test_client().get("/api/v1/health", headers={"Origin": ORIGIN})
        assert "Access-Control-Allow-Origin" not in response.headers
    finally:
        runtime.current().close()
    for bad in ("*", "https://x.example/path", "staff.example"):
        with pytest.raises(ConfigError, match="LSSO_CORS_ORIGINS"):
            load_settings(environ={"LSSO_CORS_ORIGINS": bad})
