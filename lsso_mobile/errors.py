"""Domain errors raised by services; the API maps each to one HTTP status.

A service that must keep what it wrote before failing (a wrong PIN counts towards a delay, a
reused refresh token revokes its family) raises an error with ``keep_changes = True``: the
request then commits instead of rolling back.

Every error carries a stable snake_case ``error`` code the app can switch on, and an English ``message``
that is a constant catalogue id: variable parts go in ``params`` (``"No office serves {province}."``,
``params={"province": code}``) so the message can be translated into the caller's language at the edge.
``text`` is the English message with its parameters filled in.
"""

from __future__ import annotations

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
        error: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.params = dict(params or {})
        super().__init__(message.format(**self.params) if self.params else message)
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.error = error  # a stable code the app can switch on, where one is defined
        if keep_changes is not None:
            self.keep_changes = keep_changes

    @property
    def text(self) -> str:
        """The English message with its parameters filled in."""
        return self.message.format(**self.params) if self.params else self.message


class UnreadableBody(DomainError):
    """The body cannot be read at all (not JSON, say): a 400."""

    status = 400


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
        self,
        message: str,
        *,
        retry_after: int,
        errors: dict[str, Any] | None = None,
        keep_changes: bool | None = None,
        error: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            message,
            errors=errors,
            headers={"Retry-After": str(self.retry_after)},
            keep_changes=keep_changes,
            error=error,
            params=params,
        )
