"""Schemas and fields shared by several resources."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from lsso_mobile.errors import InvalidInput
from lsso_mobile.services.phones import normalise_lao_mobile
from lsso_mobile.validation import FullMatch

MAX_PAGE_SIZE = 100
MAX_ROW_ID = 2**31 - 1  # ids are 32-bit columns; a larger one in a body or path can name no row


class JsonBoolean(fields.Boolean):
    """``true`` or ``false`` only, for JSON bodies: not 0, 1, "yes" or "true" (query strings keep
    ``fields.Boolean``, where "true" is the only way to say it)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):  # 0 == False in Python, so truthy/falsy sets cannot say this
            raise self.make_error("invalid", input=value)
        return value


def row_id_field(**kwargs: Any) -> fields.Integer:
    """An id given in a body: a positive 32-bit integer, so a database never sees one out of range."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ROW_ID), **kwargs)


# Times a client may send (e.g. updated_since): far enough apart for any real use, never near overflow.
SANE_TIMES = validate.Range(
    min=datetime(2000, 1, 1, tzinfo=UTC), max=datetime(2200, 1, 1, tzinfo=UTC), error="Out of range."
)


def _unstorable_text(value: Any) -> bool:
    """NUL (PostgreSQL refuses it in text) or a lone UTF-16 surrogate (no encoding can store it)."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_unstorable_text(k) or _unstorable_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable_text(v) for v in value)
    return False


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped; text that cannot be stored is refused (422)."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_unstorable_text(self, data: Any, **kwargs: Any) -> Any:
        items = data.items() if hasattr(data, "items") else []
        bad = sorted(str(key) for key, value in items if _unstorable_text(key) or _unstorable_text(value))
        if bad:
            raise ValidationError({key: ["Contains a NUL character or an unpaired surrogate."] for key in bad})
        return data


LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


class LocalTime(fields.Time):
    """A wall-clock time in Asia/Vientiane, ``HH:MM`` or ``HH:MM:SS``: a time with a UTC offset is refused,
    not silently shifted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        metadata = {"pattern": LOCAL_TIME_PATTERN, "maxLength": 8, "example": "08:00", **kwargs.pop("metadata", {})}
        super().__init__(*args, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(LOCAL_TIME_PATTERN, value):
            raise ValidationError("Give the local time as HH:MM (Asia/Vientiane), without a UTC offset.")
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed is not None and parsed.tzinfo is not None:
            raise ValidationError("Give the local time (Asia/Vientiane) without a UTC offset.")
        return parsed


class LaoPhone(fields.String):
    """A Lao mobile number in any common spelling, normalised to E.164."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        metadata = {"maxLength": 32, **kwargs.pop("metadata", {})}
        super().__init__(*args, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        if len(raw) > 32:
            raise ValidationError("Too long for a phone number.")
        try:
            return normalise_lao_mobile(raw)
        except InvalidInput as exc:
            raise ValidationError(exc.message) from None


def pin_field(**kwargs: Any) -> fields.String:
    return fields.String(
        required=True,
        validate=FullMatch(r"^[0-9]{6}$", error="A PIN is exactly 6 digits."),
        metadata={"example": "482913"},
        **kwargs,
    )


def code_field() -> fields.String:
    return fields.String(
        required=True,
        validate=FullMatch(r"^[0-9]{6}$", error="A code is exactly 6 digits."),
        metadata={"description": "The 6-digit code sent by SMS"},
    )


class PageArgsSchema(StrictSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=64),
        metadata={"description": "next_cursor from the previous page"},
    )


class PageMetaSchema(Schema):
    next_cursor = fields.String(allow_none=True, required=True)


def _encode(*parts: object) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).decode().rstrip("=")


def _decode(cursor: str, kind: str, count: int) -> list[str]:
    """The parts after ``kind`` of a cursor made by _encode; 422 for anything else."""
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = []
    row_id = parts[-1] if parts else ""
    if len(parts) == count + 1 and parts[0] == kind and row_id.isascii() and row_id.isdigit() and len(row_id) <= 18:
        return parts[1:]
    raise InvalidInput("The cursor is not valid; start again without one.", errors={"cursor": ["invalid"]})


def encode_cursor(last_id: int) -> str:
    return _encode("id", last_id)


def decode_cursor(cursor: str | None) -> int | None:
    return None if cursor is None else int(_decode(cursor, "id", 1)[0])


def encode_period_cursor(period: str, row_id: int) -> str:
    return _encode("p", period, row_id)


def decode_period_cursor(cursor: str | None) -> tuple[str, int] | None:
    """Position in a list ordered by (period, id) descending."""
    if cursor is None:
        return None
    period, row_id = _decode(cursor, "p", 2)
    if len(period) != 7:
        raise InvalidInput("The cursor is not valid; start again without one.", errors={"cursor": ["invalid"]})
    return period, int(row_id)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_key_cursor(kind: str, key: tuple[int, ...]) -> str:
    """A cursor over a list ordered by a tuple of integers (e.g. time, rank, id)."""
    return _encode(kind, *key)


def decode_key_cursor(cursor: str | None, kind: str, size: int) -> tuple[int, ...] | None:
    if cursor is None:
        return None
    parts = _decode(cursor, kind, size)
    if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
        raise InvalidInput("The cursor is not valid; start again without one.", errors={"cursor": ["invalid"]})
    return tuple(int(part) for part in parts)


def encode_time_cursor(at: datetime, *rest: int, kind: str = "t") -> str:
    """Position in a list ordered by (time, ..., id): the time as whole microseconds since 1970."""
    return encode_key_cursor(kind, ((at - _EPOCH) // timedelta(microseconds=1), *rest))


MAX_CURSOR_MICROS = 10**17  # year 5138; beyond it a datetime overflows


def decode_time_cursor(cursor: str | None, kind: str = "t", size: int = 2) -> tuple[Any, ...] | None:
    """(time, ..., id) from a cursor made by ``encode_time_cursor`` with the same ``kind``."""
    key = decode_key_cursor(cursor, kind, size)
    if key is None:
        return None
    if key[0] > MAX_CURSOR_MICROS:
        raise InvalidInput("The cursor is not valid; start again without one.", errors={"cursor": ["invalid"]})
    return (_EPOCH + timedelta(microseconds=key[0]), *key[1:])


def page(
    items: list[Any],
    limit: int,
    cursor_of: Callable[[Any], str] = lambda item: encode_cursor(item.id),
) -> dict[str, Any]:
    """Callers fetch limit + 1 rows; the extra one only says there is a next page. ``cursor_of`` makes
    the cursor from the last item shown (an id cursor unless the list has another order)."""
    has_more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": cursor_of(items[-1]) if has_more and items else None}
