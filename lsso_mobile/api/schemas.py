"""Schemas and fields shared by several resources."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from lsso_mobile import runtime
from lsso_mobile.api.errors import MAX_ERROR_ENTRIES
from lsso_mobile.errors import InvalidInput
from lsso_mobile.services.phones import normalise_lao_mobile
from lsso_mobile.validation import (
    MULTI_LINE,
    SECRET,
    SINGLE_LINE,
    UNSTORABLE,
    UNSTORABLE_MESSAGE,
    FullMatch,
    clean_text,
)

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


class MultiLineText(fields.String):
    """Text that may hold new lines and tabs: message, broadcast and canned-reply bodies, reasons, notes.

    Every other string field is single-line text (see ``validation.clean_text``)."""


def _text_kind(field: fields.Field) -> str:
    if isinstance(field, fields.List):
        return _text_kind(field.inner)
    if isinstance(field, MultiLineText):
        return MULTI_LINE
    if field.load_only:  # passwords and client secrets: compared as sent
        return SECRET
    return SINGLE_LINE


def _clean_value(value: Any, kind: str, nested: bool) -> Any:
    """``value`` with every string cleaned as ``kind``; objects a nested schema reads are left to it."""
    if isinstance(value, str):
        return clean_text(value, kind)
    if isinstance(value, list):
        return [_clean_value(item, kind, nested) for item in value]
    if isinstance(value, dict) and not nested:
        return {_clean_value(key, SINGLE_LINE, False): _clean_value(item, kind, False) for key, item in value.items()}
    return value


def _check_sent_length(field: fields.Field, value: Any) -> None:
    """A text's maxLength holds for the text as sent (as JSON Schema counts it), before cleaning or trimming
    could shorten it: the document and the service then agree on exactly which texts are too long."""
    if isinstance(value, str) and isinstance(field, fields.String):
        for validator in field.validators:
            if isinstance(validator, validate.Length) and validator.max is not None and len(value) > validator.max:
                validator(value)  # raises marshmallow's own message


def _max_items(field: fields.List) -> int | None:
    bounds = [v.max for v in field.validators if isinstance(v, validate.Length) and v.max is not None]
    return min(bounds) if bounds else None


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped; text is cleaned by its kind (422 if refused).

    Before any field is read, so that the work and the answer stay small whatever the body holds: a body
    with many unknown fields gets one short answer, and a list longer than its maxItems is refused without
    reading its items."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _bounded_clean_input(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        by_key = {field.data_key or name: field for name, field in self.load_fields.items()}
        if isinstance(data, dict):  # a JSON body (query strings drop unknown names instead)
            _refuse_many_unknown([key for key in data if key not in by_key])
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        for key, field in by_key.items():
            if key not in data:
                continue
            value = data[key]
            limit = _max_items(field) if isinstance(field, fields.List) else None
            if limit is not None and isinstance(value, list) and len(value) > limit:
                errors[key] = [f"At most {limit} items."]
                continue
            nested = isinstance(field, fields.Nested) or isinstance(getattr(field, "inner", None), fields.Nested)
            try:
                _check_sent_length(field, value)
                cleaned[key] = _clean_value(value, _text_kind(field), nested)
            except ValidationError as exc:
                errors[key] = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
        for key in data:
            if key not in by_key and isinstance(key, str) and UNSTORABLE.search(key):
                errors[key] = [UNSTORABLE_MESSAGE]
        if errors:
            raise ValidationError(errors)
        if not isinstance(data, dict):
            return data  # query strings are checked, not rewritten
        return {**data, **cleaned}


def _refuse_many_unknown(unknown: list[Any]) -> None:
    """Up to MAX_ERROR_ENTRIES unknown names get marshmallow's usual entry each; more are refused here
    at once, naming the first few, instead of one entry per name."""
    if len(unknown) < MAX_ERROR_ENTRIES:
        return
    shown = unknown[: MAX_ERROR_ENTRIES - 1]
    errors: dict[str, list[str]] = {"_schema": [f"{len(unknown)} unknown fields; the first {len(shown)} are listed."]}
    errors.update({str(key): ["Unknown field."] for key in shown})
    raise ValidationError(errors)


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


def pin_field(description: str = "The 6-digit PIN", **kwargs: Any) -> fields.String:
    return fields.String(
        required=True,
        validate=FullMatch(r"^[0-9]{6}$", error="A PIN is exactly 6 digits."),
        metadata={"description": description, "example": "482913"},
        **kwargs,
    )


def code_field() -> fields.String:
    return fields.String(
        required=True,
        validate=FullMatch(r"^[0-9]{6}$", error="A code is exactly 6 digits."),
        metadata={"description": "The 6-digit code sent by SMS"},
    )


MAX_CURSOR_LENGTH = 200

# Rows are stamped when their request starts and become visible when it commits, up to a few seconds later:
# a delta sync watermark handed out as "now" could skip a row committed just after the answer. Lists that
# offer ``updated_since`` hand back the server's clock minus this margin instead; repeats are harmless.
SYNC_MARGIN = timedelta(seconds=30)


def server_time_field() -> fields.DateTime:
    return fields.DateTime(
        required=True,
        metadata={
            "description": "The sync watermark: pass it as `updated_since` next time. It is the server's clock "
            f"minus {int(SYNC_MARGIN.total_seconds())} seconds, on purpose (not a clock to show or to set the "
            "phone's by): a change committed while this answer was made is then not missed by the next sync. "
            "Items may therefore come again; the app keys them by id (inbox items by kind and id).",
            "example": "2025-10-10T03:14:30+00:00",
        },
    )


class PageArgsSchema(StrictSchema):
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Items per page (1 to {MAX_PAGE_SIZE}; 20 if not given)"},
    )
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=MAX_CURSOR_LENGTH),
        metadata={"description": "next_cursor from the previous page (opaque and signed: pass it back as it came)"},
    )


class PageMetaSchema(Schema):
    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `cursor` to get the next page; null on the last page"},
    )


def _cursor_signer() -> URLSafeSerializer:
    return URLSafeSerializer(runtime.current().settings.secret_key, salt="lsso-page-cursor")


def _encode(*parts: object) -> str:
    """An opaque cursor: the position's parts, signed, so a cursor the service did not make is refused."""
    return str(_cursor_signer().dumps([str(part) for part in parts]))


def _decode(cursor: str, kind: str, count: int) -> list[str]:
    """The parts after ``kind`` of a cursor made by _encode; 422 for anything else (the one forgery check)."""
    try:
        parts = _cursor_signer().loads(cursor)
    except BadData:
        parts = []
    if not isinstance(parts, list) or not all(isinstance(part, str) for part in parts):
        parts = []
    row_id = parts[-1] if parts else ""
    if len(parts) == count + 1 and parts[0] == kind and row_id.isascii() and row_id.isdigit() and len(row_id) <= 18:
        return parts[1:]
    raise InvalidInput(
        "The cursor is not valid; start again without one.", error="cursor_invalid", errors={"cursor": ["invalid"]}
    )


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
        raise InvalidInput(
            "The cursor is not valid; start again without one.", error="cursor_invalid", errors={"cursor": ["invalid"]}
        )
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
        raise InvalidInput(
            "The cursor is not valid; start again without one.", error="cursor_invalid", errors={"cursor": ["invalid"]}
        )
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
        raise InvalidInput(
            "The cursor is not valid; start again without one.", error="cursor_invalid", errors={"cursor": ["invalid"]}
        )
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
