"""Domain errors raised by services; the API maps each to one HTTP status.

A service that must keep what it wrote before failing (a wrong PIN counts towards lockout, a
reused refresh token revokes its family) raises an error with ``keep_changes = True``: the
request then commits instead of rolling back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class DomainError(Exception):
    status = 400
    keep_changes = False

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        # A stable machine-readable code the app can switch on (the response's ``error``), where one is given.
        self.error_code = error_code
        if keep_changes is not None:
            self.keep_changes = keep_changes


class InvalidInput(DomainError):
    status = 422


class NotAuthenticated(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class PayloadTooLarge(DomainError):
    status = 413


class UriTooLong(DomainError):
    status = 414


class UnsupportedMediaType(DomainError):
    status = 415


class TooManyRequests(DomainError):
    """A limit was reached; the caller may try again after ``retry_after`` seconds."""

    status = 429

    def __init__(
        self, message: str, *, retry_after: int, errors: dict[str, Any] | None = None, keep_changes: bool | None = None
    ) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            message, errors=errors, headers={"Retry-After": str(self.retry_after)}, keep_changes=keep_changes
        )


class AccountLocked(TooManyRequests):
    """Too many failed sign-ins: the account is locked until ``unlock_at`` (in the error body)."""

    def __init__(self, unlock_at: datetime, now: datetime, *, keep_changes: bool = False) -> None:
        super().__init__(
            "Too many failed sign-in attempts; the account is locked until the time given.",
            retry_after=int((unlock_at - now).total_seconds()) + 1,
            errors={"unlock_at": unlock_at.isoformat()},
            keep_changes=keep_changes,
        )
        self.unlock_at = unlock_at
