"""Fixtures and helpers for the SMS fallback and look-up tests: the fake SMS gateway and its settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.sms_gateway import FakeSmsGateway

WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789abcdef"


@pytest.fixture(name="fake_sms")
def fake_sms_fixture() -> Iterator[FakeSmsGateway]:
    """The local SMS gateway (import ``fake_sms_fixture`` into a test module to use ``fake_sms``)."""
    gateway = FakeSmsGateway().start()
    yield gateway
    gateway.stop()


def sms_overrides(gateway: FakeSmsGateway, **more: Any) -> dict[str, Any]:
    return {
        "sms_backend": "http",
        "sms_gateway_url": gateway.url,
        "sms_gateway_token": "sms-test-token",
        "sms_webhook_secret": WEBHOOK_SECRET,
        **more,
    }


def post_signed(client: Any, path: str, payload: dict[str, Any], secret: str = WEBHOOK_SECRET, **kwargs: Any) -> Any:
    headers, body = FakeSmsGateway.signed(payload, secret, **kwargs)
    return client.post(path, data=body, headers=headers)
