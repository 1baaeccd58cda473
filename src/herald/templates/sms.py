"""How many SMS segments a text takes, as the carriers split it.

A text in the GSM 03.38 alphabet travels as 7-bit septets: 160 in a lone message, 153 per
segment once split (the other 7 carry the concatenation header). Characters of the extension
table cost two septets (an escape, then the character) and the pair is never split across
segments. Any other character sends the whole text as UCS-2: 70 UTF-16 units alone, 67 per
segment, and a surrogate pair (an emoji, say) is never split either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
_GSM7 = GSM7_BASIC | GSM7_EXTENDED

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: Literal["gsm7", "ucs2"]
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _pack(costs: Iterable[int], part: int) -> int:
    """Segments needed when no character's units may straddle two segments."""
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count


def segments(text: str) -> Segments:
    """The encoding, size and segment count of an SMS text."""
    if _GSM7.issuperset(text):
        doubled = sum(text.count(ch) for ch in GSM7_EXTENDED)
        units = len(text) + doubled
        if units <= GSM7_SINGLE:
            return Segments("gsm7", units, 1)
        if not doubled:
            return Segments("gsm7", units, -(-units // GSM7_PART))
        return Segments("gsm7", units, _pack((2 if ch in GSM7_EXTENDED else 1 for ch in text), GSM7_PART))
    units = utf16_units(text)
    if units <= UCS2_SINGLE:
        return Segments("ucs2", units, 1)
    if units == len(text):
        return Segments("ucs2", units, -(-units // UCS2_PART))
    return Segments("ucs2", units, _pack((2 if ord(ch) > 0xFFFF else 1 for ch in text), UCS2_PART))
