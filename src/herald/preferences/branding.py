"""The preference page's colours: an app's accent colour, and text on it that stays readable.

An app picks any colour; the page's text on it is chosen by contrast (WCAG 2.x relative
luminance), never by the app: near-black where that reaches AA's 4.5:1, else white, else pure
black. Black or white always reaches 4.58:1 on any colour, so no choice of the app's makes
its page unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass

AA = 4.5
DEFAULT_ACCENT = "#1d4ed8"
_DARK = "#1a1a1a"
_WHITE = "#ffffff"
_BLACK = "#000000"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """The relative luminance of `#rrggbb` (WCAG 2.x)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """The contrast ratio of two colours, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(background: str) -> str:
    """The text colour for `background` with the higher contrast, preferring a softer black."""
    for candidate in sorted((_DARK, _WHITE), key=lambda c: contrast(background, c), reverse=True):
        if contrast(background, candidate) >= AA:
            return candidate
    return max((_BLACK, _WHITE), key=lambda c: contrast(background, c))


@dataclass(frozen=True, slots=True)
class Palette:
    """The page's accent and the text drawn on it."""

    accent: str
    on_accent: str

    @classmethod
    def of(cls, colour: str | None) -> Palette:
        accent = (colour or DEFAULT_ACCENT).lower()
        return cls(accent, text_on(accent))
