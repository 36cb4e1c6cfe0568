"""One error shape for every error, in the caller's language.

Every error body the API sends is built by ``error_body`` (flask-smorest's own handler included, see
``LssoApi.handle_http_exception``)::

    {"code": 422, "status": "Unprocessable Entity", "error": "invalid_input", "message": "...",
     "params": {...}, "errors": {"field": [{"error": "too_long", "message": "..."}]}, "errors_omitted": 3}

- ``error``: a stable snake_case code the app switches on (``DEFAULT_CODES`` by status where the raiser
  gave none); ``message``: the catalogue text in the caller's language; ``params``: the values the message
  was filled with (``{"month": "2026-01"}``), when there are any.
- ``errors`` (422s mostly): by field, one flat map whatever found the mistake (the request parser or a
  service); nested fields are dotted paths (``records.3.amount``), the parser's location (``json``,
  ``query``) is left out. Each field has a list of ``{"error", "message"}`` entries.
- The language: a member's stored language; anyone else the first of ``lo``/``en`` in ``Accept-Language``;
  Lao when neither says (staff and machine clients: English).

``error_body`` bounds what an error can echo back: at most ``MAX_ERROR_ENTRIES`` field entries
(``errors_omitted`` says how many more there were), keys and messages cut to a fixed length, so a request
cannot make its answer larger than a few kilobytes however many mistakes it holds.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, g, has_request_context, jsonify, request
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from lsso_mobile import i18n, metrics
from lsso_mobile.api.context import db_session, settings
from lsso_mobile.errors import DEFAULT_CODES, DomainError, field_code

log = logging.getLogger(__name__)

MAX_ERROR_ENTRIES = 20  # field entries (a field and its messages) in one error body
MAX_MESSAGES_PER_ENTRY = 5
MAX_ERROR_KEY_CHARS = 64  # a key echoes the caller's input (an unknown field's name, say)
MAX_ERROR_TEXT_CHARS = 300
MAX_PARAMS = 10
WEBARGS_LOCATIONS = {"json", "query", "path", "form", "files", "headers", "cookies", "view_args", "querystring"}


def error_body(
    status: int,
    message: str | None = None,
    errors: Any = None,
    error: str | None = None,
    params: dict[str, Any] | None = None,
    language: str = i18n.ENGLISH,
) -> dict[str, Any]:
    """The body of every error response, with ``message`` and the field messages in ``language``."""
    body: dict[str, Any] = {"code": status, "status": HTTPStatus(status).phrase}
    body["error"] = error or DEFAULT_CODES.get(status, "error")
    if message:
        text = i18n.translate(message, language, params) if params else i18n.translate_text(str(message), language)
        body["message"] = _cut(text, MAX_ERROR_TEXT_CHARS)
    shown = _json_params(params)
    if shown:
        body["params"] = shown
    if errors:
        budget = [MAX_ERROR_ENTRIES, 0]  # entries left to show, entries left out
        flat: dict[str, list[dict[str, str]]] = {}
        _flatten(errors, "", flat, budget, language)
        body["errors"] = flat
        if budget[1]:
            body["errors_omitted"] = budget[1]
    return body


def _json_params(params: dict[str, Any] | None) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in list((params or {}).items())[:MAX_PARAMS]:
        if isinstance(value, bool | int | float) or value is None:
            shown[str(key)] = value
        else:
            shown[str(key)] = _cut(str(value), MAX_ERROR_TEXT_CHARS)
    return shown


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _flatten(errors: Any, prefix: str, out: dict[str, list[dict[str, str]]], budget: list[int], language: str) -> None:
    """``errors`` (nested by field, list index or parser location) as ``out[path] = [entries]``, at most
    ``budget[0]`` paths; the paths left out are counted in ``budget[1]``."""
    if isinstance(errors, dict) and not _is_entry(errors):
        for key, value in errors.items():
            name = str(key)
            if not prefix and name in WEBARGS_LOCATIONS and isinstance(value, dict):
                _flatten(value, prefix, out, budget, language)
                continue
            _flatten(value, f"{prefix}.{name}" if prefix else name, out, budget, language)
        return
    if budget[0] <= 0:
        budget[1] += 1
        return
    budget[0] -= 1
    path = _cut(prefix or "_schema", MAX_ERROR_KEY_CHARS)
    items = errors if isinstance(errors, list | tuple) else [errors]
    entries = out.setdefault(path, [])
    for item in items[:MAX_MESSAGES_PER_ENTRY]:
        if len(entries) < MAX_MESSAGES_PER_ENTRY:
            entries.append(_entry(item, language))


def _is_entry(value: dict[Any, Any]) -> bool:
    return "message" in value and "error" in value


def _entry(item: Any, language: str) -> dict[str, str]:
    """One field message: its code and its text in ``language``."""
    if isinstance(item, dict) and _is_entry(item):
        text, code = str(item["message"]), str(item["error"])
        params = item.get("params")
        message = i18n.translate(text, language, params) if params else i18n.translate_text(text, language)
        return {"error": code, "message": _cut(message, MAX_ERROR_TEXT_CHARS)}
    text = str(item)
    found = i18n.recognise(text)
    msgid = found[0] if found else text
    message = i18n.translate(msgid, language, found[1]) if found else text
    return {"error": field_code(msgid), "message": _cut(message, MAX_ERROR_TEXT_CHARS)}


# -- the caller's language -----------------------------------------------------------------------------


def caller_language() -> str:
    """A member's stored language; else ``Accept-Language`` (lo or en); else Lao, English for staff and
    machine clients."""
    if not has_request_context():
        return i18n.DEFAULT_LANGUAGE
    cached = g.get("lsso_error_language")
    if cached:
        return str(cached)
    kind, account_id = _caller()
    language = _member_language(account_id) if kind == "member" and account_id is not None else None
    if language is None:
        header = request.headers.get("Accept-Language")
        staff = kind in ("staff", "client")
        language = i18n.best_language(header, i18n.ENGLISH if staff else i18n.DEFAULT_LANGUAGE)
    g.lsso_error_language = language
    return language


def _caller() -> tuple[str | None, int | None]:
    """The kind (member, staff, client) and id of the caller, if known: from the route's check, or for an error
    that came before it (a body the parser refused) from the token's signed subject."""
    from lsso_mobile.api.access import bearer_token
    from lsso_mobile.api.context import keyring

    principal = g.get("principal")
    if principal is not None:
        return principal.kind, principal.id
    token = bearer_token()
    if token is None:
        return None, None
    try:
        kind, _, raw_id = keyring().decode(token, "access").subject.partition(":")
    except Exception:  # an invalid token: the caller is not known
        return None, None
    return kind, (int(raw_id) if raw_id.isdigit() else None)


def _member_language(member_id: int) -> str | None:
    from lsso_mobile.services.accounts import member_language

    try:
        stored = member_language(db_session(), member_id)
    except Exception:  # the database is down: answer the error all the same
        log.warning("could not read the member's language for an error answer")
        db_session().rollback()
        return None
    return None if stored is None else i18n.normalise_language(stored)


def error_response(
    status: int,
    message: str | None = None,
    errors: Any = None,
    headers: dict[str, str] | None = None,
    error: str | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    response = jsonify(error_body(status, message, errors, error, params, caller_language()))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Content-Language"] = g.get("lsso_error_language") or i18n.DEFAULT_LANGUAGE
    response.vary.add("Accept-Language")
    return response


def http_exception_response(exc: HTTPException) -> Any:
    """An HTTPException in the common shape: werkzeug's own, or flask-smorest's/webargs' ``abort`` (which
    carry ``message``, ``errors`` or webargs' ``messages``, and ``headers`` in ``exc.data``)."""
    data = getattr(exc, "data", None) or {}
    errors = data.get("errors", data.get("messages"))
    headers = dict(data.get("headers") or {})
    if not data:
        headers = dict(exc.get_headers()[1:])  # werkzeug's own: Allow, Retry-After...
    status = exc.code or 500
    message = data.get("message") if data else None
    if not message:
        message = STATUS_MESSAGES.get(status, exc.description)
    return error_response(status, message, errors, headers, data.get("error"))


# The message of an error that came with none of its own (werkzeug's, or the request parser's 422).
STATUS_MESSAGES = {
    400: "The request could not be read.",
    404: "There is nothing at this address.",
    405: "This address does not take this method.",
    413: "The request body is too large.",
    415: "The body is not of a media type this address takes.",
    422: "Some of the data sent is not valid; see errors.",
    500: "Something went wrong on our side; please try again.",
}


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
        return error_response(exc.status, exc.message, exc.errors, exc.headers, exc.error, exc.params)

    @app.errorhandler(MethodNotAllowed)
    def handle_method_not_allowed(exc: MethodNotAllowed) -> Any:
        # flask-smorest's own handler drops the Allow header the HTTP standard asks of a 405.
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return error_response(405, STATUS_MESSAGES[405], headers={"Allow": allowed}, error="method_not_allowed")

    @app.errorhandler(IntegrityError)
    def handle_integrity_error(exc: IntegrityError) -> Any:
        db_session().rollback()
        if _is_unique_violation(exc):
            log.info("unique violation answered with 409")
            return error_response(409, "This conflicts with data that already exists.", error="already_exists")
        log.info("integrity error answered with 422: %s", type(exc.orig).__name__)
        return error_response(
            422, "The request refers to data that does not exist or is not allowed.", error="invalid_reference"
        )

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
        return error_response(500, STATUS_MESSAGES[500], error="internal_error")


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(exc.orig)  # sqlite3
