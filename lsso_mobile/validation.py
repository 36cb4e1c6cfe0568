"""Validators shared by API schemas and import schemas."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from marshmallow import ValidationError, validate

from lsso_mobile.errors import InvalidInput


class FullMatch(validate.Regexp):
    """A Regexp that must match the whole value (Python's ``$`` also matches before a final newline).

    The pattern is still published in the OpenAPI document, so write it with ``^...$`` and ASCII classes.
    """

    def __call__(self, value: Any) -> Any:
        pattern: re.Pattern[str] = self.regex  # type: ignore[assignment]  # built from a str pattern
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


# -- text -------------------------------------------------------------------------------------------
#
# Every text a caller sends is normalised to NFC (one spelling per character, so equal names compare
# equal and lengths count what people see) and checked by its kind:
# - single-line (names, subjects, titles, codes; the default): no control character at all (no CR, LF or
#   tab, no ANSI escape), no line or paragraph separator, and no invisible formatting character (Unicode
#   category Cf: bidirectional overrides, embeddings, isolates and marks, zero-width spaces and joiners,
#   soft hyphens). Lao needs none of them: its vowels and tone marks are combining marks (Mn), kept.
# - multi-line (message and broadcast bodies, reasons, notes): new lines (CR LF becomes LF) and tabs are
#   kept; other control characters and the bidirectional overrides, embeddings and isolates are refused.
#   Zero-width joiners stay (emoji sequences use them).
# - secret (passwords and client secrets): compared as sent, so neither normalised nor refused.
# Everywhere: NUL (PostgreSQL cannot store it) and unpaired surrogates (no encoding can) are refused.

SINGLE_LINE = "single-line"
MULTI_LINE = "multi-line"
SECRET = "secret"

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_MULTI_LINE_REFUSED = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]")


def _format_characters() -> str:
    """A regex class of every format character (Cf) this Python's Unicode database knows."""
    points = (cp for block in (range(0x30000), range(0xE0000, 0xE1000)) for cp in block)
    return "".join(re.escape(chr(cp)) for cp in points if unicodedata.category(chr(cp)) == "Cf")


_SINGLE_LINE_REFUSED = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_format_characters()}]")

UNSTORABLE_MESSAGE = "Contains a NUL character or an unpaired surrogate."
CONTROL_MESSAGE = "Contains a control character (new lines and tabs only where text has several lines)."
FORMAT_MESSAGE = "Contains an invisible formatting character (a bidirectional override or a zero-width character)."
BIDI_MESSAGE = "Contains a bidirectional override, embedding or isolate character."


def clean_text(value: str, kind: str = SINGLE_LINE) -> str:
    """``value`` in NFC; ValidationError if it holds a character its kind refuses (see above)."""
    if UNSTORABLE.search(value):
        raise ValidationError(UNSTORABLE_MESSAGE)
    if kind == SECRET:
        return value
    value = unicodedata.normalize("NFC", value)
    if kind == MULTI_LINE:
        value = value.replace("\r\n", "\n")
        found = _MULTI_LINE_REFUSED.search(value)
        if found:
            raise ValidationError(BIDI_MESSAGE if "\u202a" <= found.group() <= "\u2069" else CONTROL_MESSAGE)
        return value
    found = _SINGLE_LINE_REFUSED.search(value)
    if found:
        category = unicodedata.category(found.group())
        raise ValidationError(FORMAT_MESSAGE if category == "Cf" else CONTROL_MESSAGE)
    return value


MAX_TITLE_CHARS = 200  # short titles: canned replies, holiday names


def required_text(value: str, field: str, max_chars: int) -> str:
    """The text without surrounding white space; refused if nothing is left or it is too long."""
    text = value.strip()
    if not text:
        raise InvalidInput("A text is empty.", error="empty", errors={field: ["Write something: this is empty."]})
    if len(text) > max_chars:
        raise InvalidInput(
            "A text is too long.", error="too_long", errors={field: [f"At most {max_chars} characters."]}
        )
    return text
