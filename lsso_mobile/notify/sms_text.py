"""How many SMS parts a text costs, and fitting a text into a set number of parts.

An SMS is GSM-7 when every character is in the GSM 03.38 alphabet (160 characters in one part, 153 per
part once split; the extension characters such as ``€[]{}`` take two) and UCS-2 otherwise: Lao script is
always UCS-2, 70 characters in one part and 67 per part when split. Lao vowel signs and tone marks are
characters of their own and count as such. A part never ends in the middle of a character (a two-septet
extension character, a surrogate pair), so parts are packed the way a phone packs them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "gsm7" | "ucs2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _unit_costs(text: str, gsm7: bool) -> list[int]:
    if gsm7:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def measure(text: str) -> SmsSize:
    """The encoding, length in units and number of parts of ``text``."""
    gsm7 = is_gsm7(text)
    costs = _unit_costs(text, gsm7)
    units = sum(costs)
    single, per_part = (GSM7_SINGLE, GSM7_PART) if gsm7 else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        return SmsSize("gsm7" if gsm7 else "ucs2", units, 1)
    parts, room = 1, per_part
    for cost in costs:  # a character never straddles two parts
        if cost > room:
            parts, room = parts + 1, per_part
        room -= cost
    return SmsSize("gsm7" if gsm7 else "ucs2", units, parts)


def fit(text: str, max_parts: int) -> str:
    """``text`` itself if it fits in ``max_parts`` parts, else cut at the end with an ellipsis so that it does.

    The cut never leaves a Lao vowel sign or tone mark without its consonant, and prefers a space."""
    text = text.strip()
    if measure(text).parts <= max_parts:
        return text
    ellipsis = "..." if is_gsm7(text) else "…"
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if measure(text[:middle].rstrip() + ellipsis).parts <= max_parts:
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    space = cut.rfind(" ")
    if space >= len(cut) * 3 // 4:
        cut = cut[:space]
    while cut and _is_mark(text[len(cut)]):  # keep each consonant with its vowel signs and tone marks
        cut = cut[:-1]
    return cut.rstrip() + ellipsis


def _is_mark(character: str) -> bool:
    return unicodedata.category(character) in ("Mn", "Mc")
