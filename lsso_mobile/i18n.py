"""Every text in the caller's language, from the gettext catalogues, and the one money and date format.

Services and notices speak English: a message is a constant English sentence (the catalogue id) with
``{name}`` placeholders and its parameters beside it. ``translate(msgid, language, params)`` turns it into
Lao or English at the edge (the API's error handler, the notice renderer, the SMS writer, the console).

Some messages reach the edge already filled in (marshmallow's own ``"Longer than maximum length 200."``, a
field message a validator formatted): ``recognise(text)`` finds the catalogue entry a text was made from
and its parameters, so it can be translated all the same.

Money is integer kip, dates are dates in Asia/Vientiane; ``format_money`` and ``format_date`` are the one
way they are written for members (SMS, push, API texts, console), by CLDR (Babel) rules.
"""

from __future__ import annotations

import functools
import re
import string
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_format_date
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LAO = "lo"
ENGLISH = "en"
LANGUAGES = (LAO, ENGLISH)
DEFAULT_LANGUAGE = LAO
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
VIENTIANE = ZoneInfo("Asia/Vientiane")


def normalise_language(value: Any) -> str:
    """``lo`` or ``en`` (a ``Language`` member, a string such as ``"en-GB"``); Lao for anything else."""
    text = str(getattr(value, "value", value) or "").strip().lower()
    return ENGLISH if text[:2] == ENGLISH else LAO


def best_language(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The first of ``lo``/``en`` an ``Accept-Language`` header asks for (by its q-values), else ``default``."""
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", rest)
        if match:
            try:
                quality = float(match.group(1))
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower()[:2]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, position, primary))
    return min(choices)[2] if choices else default


@functools.cache
def _catalogue(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


def gettext(msgid: str, language: str) -> str:
    """``msgid`` in ``language`` (the English id itself where the catalogue has no entry)."""
    if language == ENGLISH:
        return msgid
    return _catalogue(normalise_language(language)).gettext(msgid)


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, params: dict[str, Any] | None) -> str:
    """``template`` with its ``{name}`` placeholders filled; an unknown placeholder stays as it is."""
    if not params:
        return template
    try:
        return string.Formatter().vformat(template, (), _Keep(params))
    except (ValueError, IndexError, AttributeError):  # a brace the template did not mean as a placeholder
        return template


def translate(msgid: str, language: str, params: dict[str, Any] | None = None) -> str:
    """The catalogue text of ``msgid`` in ``language`` with ``params`` filled in."""
    return fill(gettext(msgid, language), params)


def placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return set()


# -- recognising a text that was filled in before it reached the edge ---------------------------------


@functools.cache
def _patterns() -> tuple[dict[str, str], list[tuple[re.Pattern[str], str, list[str]]]]:
    """The catalogue's ids: the constant ones by text, the templated ones as patterns (longest first)."""
    ids = [message.id for message in _lao_messages() if isinstance(message.id, str) and message.id]
    exact = {msgid: msgid for msgid in ids}
    patterns: list[tuple[re.Pattern[str], str, list[str]]] = []
    templated = (m for m in ids if placeholders(m) and all(name.isidentifier() for name in placeholders(m)))
    for msgid in sorted(templated, key=len, reverse=True):
        names: list[str] = []
        regex = ""
        for literal, name, _spec, _conv in string.Formatter().parse(msgid):
            regex += re.escape(literal)
            if name:
                if name in names:
                    regex += f"(?P={name})"
                else:
                    names.append(name)
                    regex += f"(?P<{name}>.+?)"
        patterns.append((re.compile(regex + r"\Z", re.DOTALL), msgid, names))
    return exact, patterns


def _lao_messages() -> list[Any]:
    from babel.messages.pofile import read_po

    with (TRANSLATIONS_DIR / LAO / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return list(read_po(handle))


def recognise(text: str) -> tuple[str, dict[str, str]] | None:
    """The catalogue id ``text`` was made from and its parameters, or None if it is not in the catalogue."""
    exact, patterns = _patterns()
    if text in exact:
        return text, {}
    if len(text) > 1000:
        return None
    for pattern, msgid, _names in patterns:
        match = pattern.match(text)
        if match:
            return msgid, match.groupdict()
    return None


def translate_text(text: str, language: str) -> str:
    """A text that may already be filled in, in ``language``; as it is if the catalogue does not know it."""
    if language == ENGLISH:
        return text
    found = recognise(text)
    if found is None:
        return text
    msgid, params = found
    return translate(msgid, language, params)


# -- money and dates ---------------------------------------------------------------------------------

_CURRENCY_WORD = {LAO: "ກີບ", ENGLISH: "kip"}


def format_money(kip: int, language: str) -> str:
    """An amount of kip as members read it: ``108.000 ກີບ`` in Lao, ``108,000 kip`` in English (CLDR)."""
    language = normalise_language(language)
    return f"{format_decimal(int(kip), locale=language)} {_CURRENCY_WORD[language]}"


def format_date(value: date | datetime, language: str) -> str:
    """A day as members read it: ``12 ທັນວາ 2025`` / ``12 December 2025`` (CLDR, long month names).

    A datetime is first put into Vientiane time (an aware one; a naive one is taken as UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo("UTC"))
        value = value.astimezone(VIENTIANE).date()
    return _babel_format_date(value, format="d MMMM y", locale=normalise_language(language))


def format_period(period: str, language: str) -> str:
    """A contribution month ``YYYY-MM`` as ``ທັນວາ 2025`` / ``December 2025``."""
    year, _, month = period.partition("-")
    try:
        first = date(int(year), int(month), 1)
    except ValueError:
        return period
    return _babel_format_date(first, format="MMMM y", locale=normalise_language(language))


class Money:
    """An amount of kip to be written for the reader (``format_money``) where a text is rendered."""

    __slots__ = ("kip",)

    def __init__(self, kip: int) -> None:
        self.kip = int(kip)

    def __repr__(self) -> str:
        return f"Money({self.kip})"


class Period:
    """A contribution month ``YYYY-MM`` to be written for the reader (``format_period``)."""

    __slots__ = ("period",)

    def __init__(self, period: str) -> None:
        self.period = period

    def __repr__(self) -> str:
        return f"Period({self.period!r})"
