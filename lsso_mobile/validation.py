"""Validators shared by API schemas and import schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validate


class FullMatch(validate.Regexp):
    """A Regexp that must match the whole value (Python's ``$`` also matches before a final newline).

    The pattern is still published in the OpenAPI document, so write it with ``^...$`` and ASCII classes.
    """

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def unstorable_text(value: Any) -> bool:
    """NUL (PostgreSQL refuses it in text) or a lone UTF-16 surrogate (no encoding can store it)."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(unstorable_text(k) or unstorable_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(unstorable_text(v) for v in value)
    return False


def refuse_unstorable_text(data: Any) -> None:
    """Raise ValidationError naming each field of ``data`` (its key or value) that cannot be stored."""
    items = data.items() if hasattr(data, "items") else []
    bad = sorted(str(key) for key, value in items if unstorable_text(key) or unstorable_text(value))
    if bad:
        raise ValidationError({key: ["Contains a NUL character or an unpaired surrogate."] for key in bad})
