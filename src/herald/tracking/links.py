"""Rewriting a rendered email's HTML for tracking: click-through links and the open pixel.

One linear pass over the HTML: a compiled pattern finds each `<a ...>` start tag (attribute
values in single or double quotes may hold `>`; possessive quantifiers keep a malformed tag
from backtracking), and only those tags are looked into. A full HTML parse per message
would cost more than the render it follows; the issue allows tracking 10% of a delivery's
CPU. What is rewritten:

- every `href` of an anchor that is an absolute http(s) URL becomes
  `{public_url}/t/c/{token}`, the token carrying the URL itself (entities such as `&amp;`
  decoded first: the token holds the URL the browser would have followed);
- not `mailto:`, `tel:`, `#fragment`, relative or `javascript:` links, not Herald's own
  links (the unsubscribe and preferences links, an already tracked one), not a URL over `tokens.MAX_URL`
  characters or with whitespace in it;
- not an anchor marked `data-herald-track="off"` (also "false", "no", "0"); the marker is
  removed from the output whatever its value, so no client sees it;
- the open pixel goes before the last `</body>`, or at the end without one.

Text parts are left as they are, on purpose: a plain-text reader sees the URL itself, and
a long opaque tracking URL in its place reads as phishing; text-only readers are often the
ones who chose not to be tracked; and the HTML part, which nearly every client shows,
carries the tracking.
"""

from __future__ import annotations

import html as htmllib
import re
import uuid
from collections.abc import Callable

from herald.tracking.tokens import MAX_URL, Kind, TokenCodec, is_web_url

# A whole `<a ...>` start tag, attribute by attribute, in one match: the first alternative
# captures an `href` value (double-, single- or un-quoted), the second the opt-out marker,
# the third any other attribute (quoted values taken whole, so a `>` inside one does not end
# the tag). Possessive loops: a tag that does not parse is left alone, without backtracking.
_VALUE = r"""(?:"[^"]*+"|'[^']*+'|[^\s"'>]++)"""
_ANCHOR = re.compile(
    r"""<a(?=[\s/>])(?:"""
    r"""\s*+href\s*+=\s*+(?:"(?P<dq>[^"]*+)"|'(?P<sq>[^']*+)'|(?P<uq>[^\s"'>]++))"""
    r"""|(?P<mark>\s*+data-herald-track(?:\s*+=\s*+(?P<mv>""" + _VALUE + r"""))?)"""
    r"""|\s*+[^\s"'>/=]++(?:\s*+=\s*+""" + _VALUE + r""")?"""
    r"""|\s*+/"""
    r""")*+\s*+>""",
    re.IGNORECASE,
)
# Where a message's link to its user's preference page points (herald.preferences.pages).
PREFERENCES_PATH = "/preferences/m/"
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
MARKER = "data-herald-track"
_OFF = frozenset({"off", "false", "no", "0"})


class Links:
    """Rewrites one deployment's email HTML: its public URL and its token key."""

    def __init__(self, codec: TokenCodec, public_url: str) -> None:
        self.codec = codec
        self.click_base = f"{public_url}/t/c/"
        self.open_base = f"{public_url}/t/o/"
        self.unsubscribe_base = f"{public_url}/u/"
        self.preferences_base = f"{public_url}{PREFERENCES_PATH}"
        self._own = (f"{public_url}/t/", self.unsubscribe_base, self.preferences_base)

    def unsubscribe_url(self, delivery_id: uuid.UUID) -> str:
        return self.unsubscribe_base + self.codec.seal(Kind.UNSUBSCRIBE, delivery_id)

    def preferences_url(self, delivery_id: uuid.UUID) -> str:
        return self.preferences_base + self.codec.seal(Kind.PREFERENCES, delivery_id)

    def pixel(self, delivery_id: uuid.UUID) -> str:
        token = self.codec.seal(Kind.OPEN, delivery_id)
        return f'<img src="{self.open_base}{token}" width="1" height="1" alt="" style="border:0">'

    def rewrite(self, html: str, delivery_id: uuid.UUID, *, opens: bool, clicks: bool) -> str:
        """`html` with its links tracked (if `clicks`), its markers removed, and the open
        pixel (if `opens`)."""
        if clicks or MARKER in html or MARKER in html.lower():
            # One seal of the delivery id for all the email's links, at the first one tracked
            # (tokens.ClickSealer).
            seal = self.codec.clicks(delivery_id) if clicks else None

            def anchor(m: re.Match[str]) -> str:
                return self._anchor(m, seal)

            html = _ANCHOR.sub(anchor, html)
        if opens:
            html = self._with_pixel(html, delivery_id)
        return html

    def _anchor(self, m: re.Match[str], seal: Callable[[str], str] | None) -> str:
        dq, sq, uq, mark, marker_value = m.group("dq", "sq", "uq", "mark", "mv")
        if mark is not None and (marker_value or "").strip("\"'").strip().lower() in _OFF:
            seal = None
        edit: tuple[int, int, str] | None = None
        if seal is not None:
            group, url = ("dq", dq) if dq is not None else ("sq", sq) if sq is not None else ("uq", uq)
            if url is not None:
                url = _unescape(url).strip()
                if len(url) <= MAX_URL and is_web_url(url) and not url.startswith(self._own):
                    start, end = m.span(group)
                    if group != "uq":  # the quotes go too: the new value is double-quoted
                        start, end = start - 1, end + 1
                    edit = (start, end, f'"{self.click_base}{seal(url)}"')
        if mark is None:
            if edit is None:
                return m.group(0)
            # The common case, one href and no marker: one slice, no list of edits.
            tag, base = m.group(0), m.start()
            return f"{tag[: edit[0] - base]}{edit[2]}{tag[edit[1] - base :]}"
        edits = [edit] if edit is not None else []
        if mark is not None:
            edits.append((*m.span("mark"), ""))
        tag, base = m.group(0), m.start()
        for start, end, text in sorted(edits, reverse=True):
            tag = f"{tag[: start - base]}{text}{tag[end - base :]}"
        return tag

    def _with_pixel(self, html: str, delivery_id: uuid.UUID) -> str:
        pixel = self.pixel(delivery_id)
        at = html.rfind("</body>")
        if at < 0:
            ends = [m.start() for m in _BODY_END.finditer(html)]
            at = ends[-1] if ends else len(html)
        return html[:at] + pixel + html[at:]


def _unescape(value: str) -> str:
    """An attribute value's character references decoded; `&amp;` alone (a query string's
    separator, in nearly every link) without `html.unescape`'s regex pass."""
    if "&" not in value:
        return value
    if "&" not in value.replace("&amp;", ""):
        return value.replace("&amp;", "&")
    return htmllib.unescape(value)
