"""Logs: one JSON object per line in production, plain text in development, each with a request id.

The request id comes from an incoming ``X-Request-Id`` when it is well formed (a proxy's or the app's),
else it is made here; it is echoed in the response, carried in the meta of every job the request enqueues
(``jobs.RQJobQueue``), set again by the worker while that job runs, and carried with each notification id
into the push ready list, so a push's log line names the request that caused it. Every log record gets a
``request_id`` attribute (``-`` outside a request or job) from the record factory installed here, whichever
handler formats it.

What may be logged is bounded by ``tests/test_log_hygiene.py``: no phone number in full, no code, PIN,
password, token or message text. The JSON formatter writes the message and the extras a caller passes
(``extra={...}``), which must follow the same rule.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-Id"
NO_REQUEST = "-"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,99}$")

request_id_var: ContextVar[str | None] = ContextVar("lsso_request_id", default=None)
# notification id -> the request id that caused it, for the notices of a push batch (set by the drain job)
origins_var: ContextVar[Mapping[int, str] | None] = ContextVar("lsso_push_origins", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(raw: str | None) -> str:
    """The caller's id when it is well formed (8-100 of letters, digits and ``._:-``), else a new one."""
    if raw and _WELL_FORMED.match(raw):
        return raw
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


@contextmanager
def push_origins(origins: Mapping[int, str]) -> Iterator[None]:
    token = origins_var.set(origins)
    try:
        yield
    finally:
        origins_var.reset(token)


def origin_of(notification_id: int) -> str | None:
    """The request that caused a notice in this push batch (else the job's own request id)."""
    origins = origins_var.get()
    found = origins.get(notification_id) if origins else None
    return found or request_id_var.get()


_STANDARD_ATTRIBUTES = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id, the caller's
    extras, and the exception's type and traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NO_REQUEST),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | list | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_installed_factory = False


def _install_record_factory() -> None:
    global _installed_factory
    if _installed_factory:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get() or NO_REQUEST
        return record

    logging.setLogRecordFactory(factory)
    _installed_factory = True


def configure_logging(level: str, log_format: str) -> None:
    """The root logger writes to stderr in ``log_format`` (``json`` or ``text``); called once per process
    by the app factory, the worker and the CLI (again: the handler is replaced, never doubled)."""
    _install_record_factory()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_lsso", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._lsso = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
