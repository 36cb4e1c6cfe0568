"""One error shape for every error: flask-smorest's ``{code, status, message, errors}``.

``error_body`` builds every error body the API sends (flask-smorest's own handler included, see
``LssoApi.handle_http_exception``). It bounds what an error can echo back: at most ``MAX_ERROR_ENTRIES``
field entries (``errors_omitted`` says how many more there were), keys and messages cut to a fixed length,
so a request cannot make its 422 larger than a few kilobytes however many mistakes it holds.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, jsonify
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from lsso_mobile import metrics
from lsso_mobile.api.context import db_session, settings
from lsso_mobile.errors import DomainError

log = logging.getLogger(__name__)

MAX_ERROR_ENTRIES = 20  # field entries (a field and its messages) in one error body
MAX_MESSAGES_PER_ENTRY = 5
MAX_ERROR_KEY_CHARS = 64  # a key echoes the caller's input (an unknown field's name, say)
MAX_ERROR_TEXT_CHARS = 300


def error_body(status: int, message: str | None = None, errors: Any = None, error: str | None = None) -> dict[str, Any]:
    """The body of every error response: ``code``, ``status``, and ``error``/``message``/``errors`` when given."""
    body: dict[str, Any] = {"code": status, "status": HTTPStatus(status).phrase}
    if error:
        body["error"] = error
    if message:
        body["message"] = _cut(str(message), MAX_ERROR_TEXT_CHARS)
    if errors:
        budget = [MAX_ERROR_ENTRIES, 0]  # entries left to show, entries left out
        body["errors"] = _bounded_errors(errors, budget)
        if budget[1]:
            body["errors_omitted"] = budget[1]
    return body


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _bounded_errors(errors: Any, budget: list[int]) -> Any:
    """``errors`` with at most ``budget[0]`` entries in all; counts the entries left out in ``budget[1]``."""
    if isinstance(errors, dict):
        kept: dict[str, Any] = {}
        for key, value in errors.items():
            if budget[0] <= 0:
                budget[1] += _count_entries(value)
                continue
            kept[_cut(str(key), MAX_ERROR_KEY_CHARS)] = _bounded_errors(value, budget)
        return kept
    budget[0] -= 1  # a leaf: one field's message or list of messages
    if isinstance(errors, bool | int | float) or errors is None:  # a figure (a quota, a limit) stays a figure
        return errors
    if isinstance(errors, list | tuple):
        return [_cut(str(item), MAX_ERROR_TEXT_CHARS) for item in errors[:MAX_MESSAGES_PER_ENTRY]]
    return _cut(str(errors), MAX_ERROR_TEXT_CHARS)


def _count_entries(errors: Any) -> int:
    if isinstance(errors, dict):
        return sum(_count_entries(value) for value in errors.values())
    return 1


def error_response(
    status: int,
    message: str | None = None,
    errors: Any = None,
    headers: dict[str, str] | None = None,
    error: str | None = None,
) -> Any:
    response = jsonify(error_body(status, message, errors, error))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def http_exception_response(exc: HTTPException) -> Any:
    """An HTTPException in the common shape: werkzeug's own, or flask-smorest's/webargs' ``abort`` (which
    carry ``message``, ``errors`` or webargs' ``messages``, and ``headers`` in ``exc.data``)."""
    data = getattr(exc, "data", None) or {}
    errors = data.get("errors", data.get("messages"))
    headers = dict(data.get("headers") or {})
    if not data:
        headers = dict(exc.get_headers()[1:])  # werkzeug's own: Allow, Retry-After...
    message = data.get("message") if data else exc.description
    return error_response(exc.code or 500, message, errors, headers)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(exc: DomainError) -> Any:
        session = db_session()
        if exc.keep_changes:
            try:
                session.commit()
            except Exception:
                session.rollback()
                raise
        else:
            session.rollback()
        return error_response(exc.status, exc.text, exc.errors, exc.headers, exc.error)

    @app.errorhandler(MethodNotAllowed)
    def handle_method_not_allowed(exc: MethodNotAllowed) -> Any:
        # flask-smorest's own handler drops the Allow header the HTTP standard asks of a 405.
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return error_response(405, "This address does not take this method.", headers={"Allow": allowed})

    @app.errorhandler(IntegrityError)
    def handle_integrity_error(exc: IntegrityError) -> Any:
        db_session().rollback()
        if _is_unique_violation(exc):
            log.info("unique violation answered with 409")
            return error_response(409, "This conflicts with data that already exists.")
        log.info("integrity error answered with 422: %s", type(exc.orig).__name__)
        return error_response(422, "The request refers to data that does not exist or is not allowed.")

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def handle_database_unavailable(exc: OperationalError | InterfaceError) -> Any:
        # A restart or fail-over: the client retries after a few seconds; one warning, not a traceback.
        try:
            db_session().rollback()
        except Exception:  # noqa: BLE001 - the connection is gone; the pool replaces it
            log.debug("rollback after a database error failed too")
        metrics.DATABASE_UNAVAILABLE.inc()
        log.warning("database unavailable (%s): answered 503", type(exc.orig).__name__)
        return error_response(
            503,
            "The service is briefly unavailable; please try again in a few seconds.",
            headers={"Retry-After": str(settings().database_retry_after_seconds)},
            error="database_unavailable",
        )

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):  # the Api's own handler did not take it
            return http_exception_response(exc)
        db_session().rollback()
        log.exception("unhandled error")
        return error_response(500, "Something went wrong on our side; please try again.")


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(exc.orig)  # sqlite3
