"""Loading a row that must be there; inserting rows that may already be there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from lsso_mobile.errors import NotFound

T = TypeVar("T")


NOT_FOUND_MESSAGES = {
    "member": "No such member.",
    "office": "No such office.",
    "conversation": "No such conversation.",
    "insured person": "No such insured person.",
    "photo": "No such photo.",
}


def required(session: Session, model: type[T], row_id: Any, *, what: str = "record", lock: bool = False) -> T:
    """``session.get`` for a row the caller cannot do without: 404 (``NotFound``) when it is missing.
    ``lock`` reads it FOR UPDATE."""
    row = session.get(model, row_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(NOT_FOUND_MESSAGES.get(what, "No such record."), error=f"{what.replace(' ', '_')}_not_found")
    return row


def insert_ignoring_duplicates(
    session: Session,
    model: type,
    rows: list[dict[str, Any]],
    index_elements: Sequence[str],
    returning: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]] = (),
) -> list[Row[Any]]:
    """``INSERT ... ON CONFLICT (index_elements) DO NOTHING`` on PostgreSQL and SQLite, through the table
    (no ORM unit of work). With ``returning``, the inserted rows' columns; a duplicate returns nothing."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model.__table__)  # type: ignore[attr-defined]
    statement = insert.values(rows).on_conflict_do_nothing(index_elements=list(index_elements))
    if returning:
        return list(session.execute(statement.returning(*returning)).all())
    session.execute(statement)
    return []
