"""One error shape for every error: flask-smorest's ``{code, status, message, errors}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, jsonify
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from lsso_mobile.api.context import db_session
from lsso_mobile.errors import DomainError

log = logging.getLogger(__name__)


def error_response(
    status: int,
    message: str | None = None,
    errors: Any = None,
    headers: dict[str, str] | None = None,
    error_code: str | None = None,
) -> Any:
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {"code": status, "status": phrase}
    if error_code:
        body["error"] = error_code
    if message:
        body["message"] = message
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


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
        return error_response(exc.status, exc.message, exc.errors, exc.headers, exc.error_code)

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

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):  # flask-smorest's own handler did not take it
            return error_response(exc.code or 500, exc.description, headers=dict(exc.get_headers()[1:]))
        db_session().rollback()
        log.exception("unhandled error")
        return error_response(500, "Something went wrong on our side; please try again.")


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(exc.orig)  # sqlite3
