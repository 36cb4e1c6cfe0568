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
