"""Idempotent writes: a client's key plus a digest of what it asked, stored on the row the write creates.

A retried request with the same key and the same content gets the first answer (the route says so with
``Idempotent-Replayed: true``); the same key with different content is a 409. The row's model carries two
columns, ``idempotency_key`` (unique per author) and ``request_digest``. Messages and staff replies use it;
so do the payments that follow.

    digest = request_digest(kind="send", conversation=cid, body=body)
    earlier = earlier_write(session, Message, author, key, digest, what="message")
    if earlier is not None: return replay(earlier)
    session.add(Message(..., idempotency_key=key, request_digest=digest))
    winner = store_once(session, Message, author, key, digest, what="message")
    if winner is not None: return replay(winner)   # a concurrent retry committed first
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lsso_mobile.errors import Conflict

Row = TypeVar("Row")  # a model with ``idempotency_key`` and ``request_digest`` columns


def request_digest(**parts: Any) -> str:
    """A digest of what a request asked for (any JSON-able values), to tell a retry from a new request."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def earlier_write(
    session: Session, model: type[Row], author: ColumnElement[bool], key: str | None, digest: str, what: str
) -> Row | None:
    """The row this author stored with this key before, if any; 409 if the key was used for something else."""
    if key is None:
        return None
    key_column: Any = model.idempotency_key  # type: ignore[attr-defined]
    existing = session.scalars(select(model).where(author, key_column == key)).first()
    if existing is not None and existing.request_digest != digest:  # type: ignore[attr-defined]
        raise Conflict(
            "This idempotency key was already used for a different request; use a new key for a new one.",
            errors={"idempotency_key": ["Already used for another request."]},
            params={"what": what},
            error="idempotency_key_reused",
        )
    return existing


def store_once(
    session: Session, model: type[Row], author: ColumnElement[bool], key: str | None, digest: str, what: str
) -> Row | None:
    """Flush the new rows. If a concurrent request with the same key won the unique constraint, roll this
    request back and return the winner's row instead. (The one place a service ends a transaction: call it
    before anything else is written, since after a failed statement PostgreSQL accepts nothing but a
    rollback; a savepoint would do the same with more round trips on every write.)"""
    try:
        session.flush()
    except IntegrityError:
        if key is None:
            raise
        session.rollback()
        existing = earlier_write(session, model, author, key, digest, what)
        if existing is None:
            raise
        return existing
    return None
