"""Keyset pages: the one way lists are read a page at a time (never OFFSET, which rereads every skipped row).

A list ordered by a unique key (usually the id) is read after the last key the caller saw: ``keyset_page``
adds the condition, the order and the limit. Callers ask for one row more than they show; the API's
``page()`` turns that extra row into ``next_cursor``, and its signed cursors carry the key.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

AnySelect = TypeVar("AnySelect", bound=Select[Any])


def keyset_page(
    query: AnySelect, key: InstrumentedAttribute[int], after: int | None, limit: int, *, newest_first: bool = False
) -> AnySelect:
    """``query`` ordered by ``key`` (ascending, or descending with ``newest_first``), from just past ``after``."""
    if after is not None:
        query = query.where(key < after if newest_first else key > after)
    return query.order_by(key.desc() if newest_first else key).limit(limit)
