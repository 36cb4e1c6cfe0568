"""Payment providers (banks, aggregators) behind one small interface.

A callback is only a hint: its signature is checked (HMAC-SHA256 over ``timestamp + "." + raw body`` with the
shared secret, the timestamp within ``LSSO_PAYMENT_CALLBACK_WINDOW_SECONDS``), then the transaction is
confirmed by asking the provider (``query``) before anything is credited. ``transactions`` lists a day's
transactions for the reconciliation.

Two configurations share the HTTP protocol below:

- ``sandbox`` (development and tests; refused in production): the local fake bank (``python -m
  tests.fakes.bank``) at ``LSSO_PAYMENT_PROVIDER_URL``, with a development secret unless one is set.
- ``bank``: a real bank or aggregator speaking the same protocol over https with its own secret and token.

The protocol (what a bank connects to):
- callback ``POST /api/v1/payments/callbacks/{provider}``, headers ``X-Timestamp`` (Unix seconds) and
  ``X-Signature`` (``sha256=`` + hex HMAC), body JSON with at least ``transaction_id``;
- ``GET {url}/transactions/{transaction_id}`` -> ``{transaction_id, bill_number, amount, status, paid_at}``
  with ``status`` one of ``paid``, ``pending``, ``failed`` (404: not known (yet));
- ``GET {url}/transactions?date=YYYY-MM-DD`` -> ``{"transactions": [...]}`` (the provider's day, Vientiane).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote

import requests

from lsso_mobile.config import Settings


class CallbackRefused(Exception):
    """The callback is not from the provider, or too old/new to trust: nothing is recorded."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "bad_signature" | "stale_timestamp" | "malformed"


class ProviderUnavailable(RuntimeError):
    """The provider could not be asked (down, slow, an error answer): try again later."""


@dataclass(frozen=True)
class CallbackHint:
    transaction_id: str
    bill_number: str | None


@dataclass(frozen=True)
class ProviderTransaction:
    transaction_id: str
    bill_number: str | None
    amount: int
    status: str  # "paid" | "pending" | "failed"
    paid_at: datetime | None


class PaymentProvider(Protocol):
    name: str

    def verify_callback(self, raw_body: bytes, headers: Mapping[str, str], now: datetime) -> CallbackHint: ...

    def query(self, transaction_id: str) -> ProviderTransaction | None: ...

    def transactions(self, day: date) -> list[ProviderTransaction]: ...


def sign(secret: str, timestamp: str, raw_body: bytes) -> str:
    """The ``X-Signature`` value for a body sent at ``timestamp`` (what the bank computes, and we check)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


MAX_ID = 64


def _text(value: Any, longest: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= longest and value.isprintable() else None


def _transaction(data: Any) -> ProviderTransaction:
    if not isinstance(data, dict):
        raise ProviderUnavailable("the provider answered something that is not a transaction")
    transaction_id = _text(data.get("transaction_id"), MAX_ID)
    amount, status = data.get("amount"), data.get("status")
    if transaction_id is None or not isinstance(amount, int) or status not in ("paid", "pending", "failed"):
        raise ProviderUnavailable("the provider answered a transaction without id, amount or status")
    paid_at = None
    if isinstance(data.get("paid_at"), str):
        try:
            paid_at = datetime.fromisoformat(data["paid_at"])
        except ValueError:
            raise ProviderUnavailable("the provider answered an unreadable paid_at") from None
        if paid_at.tzinfo is None:
            raise ProviderUnavailable("the provider answered a paid_at without a time zone")
    return ProviderTransaction(transaction_id, _text(data.get("bill_number"), 12), amount, status, paid_at)


class HttpProvider:
    """A provider speaking the protocol above."""

    def __init__(self, name: str, url: str, secret: str, token: str, window_seconds: int, timeout: float) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.secret = secret
        self.token = token
        self.window_seconds = window_seconds
        self.timeout = timeout
        self._session = requests.Session()

    def verify_callback(self, raw_body: bytes, headers: Mapping[str, str], now: datetime) -> CallbackHint:
        timestamp = headers.get("X-Timestamp", "")
        signature = headers.get("X-Signature", "")
        if not timestamp.isdigit() or len(timestamp) > 12 or not signature:
            raise CallbackRefused("bad_signature")
        if not hmac.compare_digest(sign(self.secret, timestamp, raw_body), signature):
            raise CallbackRefused("bad_signature")
        if abs(now.timestamp() - int(timestamp)) > self.window_seconds:
            raise CallbackRefused("stale_timestamp")
        try:
            body = json.loads(raw_body)
        except ValueError:
            raise CallbackRefused("malformed") from None
        transaction_id = _text(body.get("transaction_id"), MAX_ID) if isinstance(body, dict) else None
        if transaction_id is None:
            raise CallbackRefused("malformed")
        return CallbackHint(transaction_id, _text(body.get("bill_number"), 12))

    def _get(self, path: str, params: dict[str, str] | None = None) -> requests.Response:
        try:
            response = self._session.get(
                f"{self.url}{path}",
                params=params,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"provider {self.name} unreachable ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            raise ProviderUnavailable(f"provider {self.name} answered HTTP {response.status_code}")
        return response

    def query(self, transaction_id: str) -> ProviderTransaction | None:
        response = self._get(f"/transactions/{quote(transaction_id, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderUnavailable(f"provider {self.name} answered HTTP {response.status_code}")
        try:
            return _transaction(response.json())
        except ValueError:
            raise ProviderUnavailable(f"provider {self.name} answered something that is not JSON") from None

    def transactions(self, day: date) -> list[ProviderTransaction]:
        response = self._get("/transactions", {"date": day.isoformat()})
        if response.status_code != 200:
            raise ProviderUnavailable(f"provider {self.name} answered HTTP {response.status_code}")
        try:
            items = response.json().get("transactions")
        except (ValueError, AttributeError):
            raise ProviderUnavailable(f"provider {self.name} answered something that is not a list") from None
        if not isinstance(items, list):
            raise ProviderUnavailable(f"provider {self.name} answered something that is not a list")
        return [_transaction(item) for item in items]


@lru_cache(maxsize=4)
def build_provider(settings: Settings) -> PaymentProvider:
    """The configured provider; one per process and configuration (it keeps its HTTP connections)."""
    return HttpProvider(
        settings.payment_provider,
        settings.payment_provider_url,
        settings.payment_callback_secret,
        settings.payment_provider_token,
        settings.payment_callback_window_seconds,
        settings.payment_provider_timeout,
    )
