"""Loading a row that must be there."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound

T = TypeVar("T")


def required(session: Session, model: type[T], row_id: Any, *, what: str = "record", lock: bool = False) -> T:
    """``session.get`` for a row the caller cannot do without: 404 (``NotFound``) when it is missing.
    ``lock`` reads it FOR UPDATE."""
    row = session.get(model, row_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No such {what}.")
    return row
