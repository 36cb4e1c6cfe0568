"""Loading a row that must be there."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

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
