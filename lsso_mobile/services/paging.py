"""Keyset pages: the one way lists are read a page at a time (never OFFSET, which rereads every skipped row).

A list ordered by a unique key (usually the id) is read after the last key the caller saw: ``keyset_page``
adds the condition, the order and the limit. Callers ask for one row more than they show; the API's
``page()`` turns that extra row into ``next_cursor``, and its signed cursors carry the key.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

AnySelect = TypeVar("AnySelect", bound=Select[Any])


def keyset_page(
    query: AnySelect, key: InstrumentedAttribute[int], after: int | None, limit: int, *, newest_first: bool = False
) -> AnySelect:
    """``query`` ordered by ``key`` (ascending, or descending with ``newest_first``), from just past ``after``."""
    if after is not None:
        query = query.where(key < after if newest_first else key > after)
    return query.order_by(key.desc() if newest_first else key).limit(limit)


def keyset_page_by(
    query: AnySelect,
    key: InstrumentedAttribute[Any],
    tie_breaker: InstrumentedAttribute[int],
    after: tuple[Any, int] | None,
    limit: int,
    *,
    newest_first: bool = False,
) -> AnySelect:
    """``query`` ordered by ``key`` then ``tie_breaker`` (a time or period, then the id), from just past the
    position ``after`` = (key value, id) of the last row shown."""
    if after is not None:
        value, row_id = after
        if newest_first:
            query = query.where(or_(key < value, and_(key == value, tie_breaker < row_id)))
        else:
            query = query.where(or_(key > value, and_(key == value, tie_breaker > row_id)))
    order = (key.desc(), tie_breaker.desc()) if newest_first else (key, tie_breaker)
    return query.order_by(*order).limit(limit)
