"""Request rate on every writing endpoint: per account when the caller is signed in, per address when not.

Runs before the view (and before the database is touched), for every POST, PUT, PATCH and DELETE the URL
map knows. On a route that needs a signed-in caller, the caller is told apart by the access token's signed
subject alone (no database read); a missing or bad token counts against the address. On a public route
(sign-up, codes, sign-in) every request counts against the address, token or not, so holding accounts buys
no extra budget there. The one exception is refresh: a refresh token whose signature verifies counts
against its account, because every app refreshes every quarter hour and mobile carriers put thousands of
phones behind one address. IPv6 addresses count per /64, the block one subscriber gets.

A caller over the limit gets a 429 in the common error shape with ``Retry-After``. The narrower limits
that guard one action (OTP sends per phone, sign-in failures, messages per minute) stay in their services
and count rows in the database.

Counts live in Redis when ``LSSO_REDIS_URL`` is set, so every gunicorn process shares them; otherwise in
the process (development). If Redis cannot be reached or does not answer within half a second, the
request is let through and a warning is logged (at most once a minute): a limiter outage must not take
the service down with it.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, request
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from lsso_mobile.api.access import PUBLIC, bearer_token, declared_roles
from lsso_mobile.api.bodies import json_body_or_none
from lsso_mobile.api.context import keyring
from lsso_mobile.config import Settings
from lsso_mobile.errors import NotAuthenticated, TooManyRequests
from lsso_mobile.services.limits import address_key

log = logging.getLogger(__name__)

WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Public routes whose JSON body carries a token of the caller's account: endpoint -> (field, token type).
ACCOUNT_TOKEN_IN_BODY = {"auth.refresh": ("refresh_token", "refresh")}
REDIS_TIMEOUT_SECONDS = 0.5
WARNING_INTERVAL_SECONDS = 60.0


class WriteRateLimiter:
    """The three budgets: signed-in members and staff, the core system's client, and anonymous addresses."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.account = RateLimitItemPerMinute(settings.writes_per_minute)
        self.core = RateLimitItemPerMinute(settings.core_writes_per_minute)
        self.anonymous = RateLimitItemPerMinute(settings.anonymous_writes_per_minute)
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self._last_warning = float("-inf")

    def check(self, caller: str | None, address: str) -> None:
        """Count one write; raise TooManyRequests if the caller's budget for this minute is spent."""
        if caller is None:
            item, key, message = self.anonymous, f"ip:{address_key(address)}", ADDRESS_MESSAGE
        else:
            item, key, message = (self.core if caller.startswith("client:") else self.account), caller, ACCOUNT_MESSAGE
        try:
            allowed = self.limiter.hit(item, key)
            if allowed:
                return
            reset_at = self.limiter.get_window_stats(item, key).reset_time
        except StorageError as exc:
            if time.monotonic() - self._last_warning >= WARNING_INTERVAL_SECONDS:
                self._last_warning = time.monotonic()
                log.warning("rate limit storage unavailable, writes let through: %s", type(exc.storage_error).__name__)
            return
        raise TooManyRequests(message, error="too_many_writes", retry_after=_seconds_until(reset_at, item))


ADDRESS_MESSAGE = "Too many changes from this network address; wait a moment and try again."
ACCOUNT_MESSAGE = "Too many changes from your account; wait a moment and try again."


def _seconds_until(reset_at: float, item: RateLimitItem) -> int:
    return min(max(1, int(reset_at - time.time()) + 1), item.get_expiry())


def _signed_caller(endpoint: str, public_route: bool) -> str | None:
    """The account (``member:12``, ``staff:3``, ``client:1``) whose budget this request spends, from a token
    whose signature verifies; None to count the address."""
    if public_route:
        if endpoint not in ACCOUNT_TOKEN_IN_BODY:
            return None
        field, token_type = ACCOUNT_TOKEN_IN_BODY[endpoint]
        body = json_body_or_none()
        token = body.get(field) if isinstance(body, dict) else None
    else:
        token, token_type = bearer_token(), "access"
    if not isinstance(token, str) or not token.strip() or len(token) > 4096:
        return None
    try:
        return keyring().decode(token.strip(), token_type).subject
    except NotAuthenticated:
        return None


def build_storage(settings: Settings) -> Storage:
    if settings.redis_url:
        return storage_from_string(  # type: ignore[return-value]  # a sync URL gives a sync storage
            settings.redis_url,
            key_prefix=f"{settings.queue_prefix}:ratelimit",
            wrap_exceptions=True,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    return storage_from_string("memory://")  # type: ignore[return-value]


# Bank callbacks: a bank sends thousands from one address, and each is checked by its signature before anything
# is written (a forged one costs an HMAC), so the address budget does not apply to them.
SIGNED_CALLBACK_ENDPOINTS = frozenset({"payment_callbacks.receive_payment_callback"})


def install_rate_limits(app: Flask, settings: Settings) -> None:
    limiter = WriteRateLimiter(settings, build_storage(settings))
    app.extensions["lsso_write_rate_limiter"] = limiter

    @app.before_request
    def _limit_writes() -> None:
        if request.method in WRITING_METHODS and request.url_rule is not None:
            endpoint = request.url_rule.endpoint
            if endpoint in SIGNED_CALLBACK_ENDPOINTS:
                return
            roles = declared_roles(app.view_functions[endpoint]) or ()
            limiter.check(_signed_caller(endpoint, PUBLIC in roles), request.remote_addr or "unknown")
