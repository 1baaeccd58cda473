"""Responsive email: an email's `mjml`, rendered by Jinja, compiled to HTML with its CSS inlined.

The `mjml` renders as an `html` does (sandboxed, autoescaped, and it may extend a layout written
in MJML). The MJML that makes is compiled by MRML (mjml-python, the Rust port of MJML), then
css-inline copies the rules of its `<style>`s into `style` attributes, which is what mail clients
read; the `<style>`s stay as well, as their media queries are what makes the email responsive
and some rules aim at a client's own wrapper. Neither fetches anything: `mj-include`, and
stylesheets by URL or by path, are refused.

Cost. Compiling takes 0.1-0.3 ms per KB of MJML here, a third MRML and two thirds css-inline
(`python -m bench.mjml_cost`: 0.28 ms for an order email of 2.6 KB whose render takes 0.05 ms),
at intake and again at send time: as much again as the rest of a delivery's CPU. It is not done
once at save time on the source with the Jinja tags left in: a tag in an attribute MJML reads
(`width`, `padding`), or around elements (a loop making sections, an `if` around a column), does
not come through as written, and what MJML lays out (a column's width depends on how many a loop
made) is known only after the render. But what varies from one render to the next is mostly
text, which neither compiler reads: each run of text between tags, and each `href` and `src`
value, is swapped for a numbered marker, that *shape* is compiled once and cached, and each
render puts its own text back into the compiled shape (0.1 ms for that email). A shape whose
markers do not all come out of the compile verbatim is compiled as it is instead, once per
distinct text; so is MJML whose CSS selects on `href` or `src`, which css-inline would match
against the markers.

Compiling runs in the compiler process (`offload`), never on the event loop: a render that meets
a shape not compiled yet raises `Pending`, and `settled` has it compiled there and renders again.
MRML parses and renders by recursion and overflows its stack (the process dies) on deep nesting,
so nesting is bounded before it runs, and the process it would take down is not the one serving.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from herald.kit.errors import InvalidMjml, RenderLimit
from herald.templates import offload
from herald.templates.cache import ENTRY_OVERHEAD, ByteBudgetCache
from herald.templates.limits import EMAIL_BODY_MAX_CHARS, MJML_MAX_DEPTH, MJML_MAX_TAGS

if TYPE_CHECKING:
    import css_inline

T = TypeVar("T")

CACHE_BYTES = 32 * 1024 * 1024
# A marker in a shape: letters and digits only, so that nothing on the way escapes or splits it.
_MARKER = "HERALDMJ{}Z"
MARK = re.compile(r"HERALDMJ(\d+)Z")
# Elements whose content is not markup: left whole in a shape.
_RAW = ("mj-style", "style", "script")
# A comment, a CDATA section, a raw element, a declaration, or a tag whose attribute values are
# quoted and hold no `<` or `>`. Each alternative stops at the next `<` or runs to the end, so the
# split is linear in the text whatever it holds.
_TOKEN = re.compile(
    "("
    + "|".join(
        [
            r"<!--(?:.*?-->|.*)",
            r"<!\[CDATA\[(?:.*?\]\]>|.*)",
            *(rf"<{name}(?=[\s/>])[^<>]*+(?<!/)>(?:.*?</{name}\s*>|.*)" for name in _RAW),
            r"<[!?][^<>]*+>",
            r"</?[A-Za-z][\w:.-]*+(?:\s++[A-Za-z_:][\w:.-]*+(?:\s*+=\s*+(?:\"[^\"<>]*+\"|'[^'<>]*+'))?+)*+\s*+/?>",
        ]
    )
    + ")",
    re.S | re.I,
)
# A tag's start that `_TOKEN` could not read as a tag.
_UNREAD_TAG = re.compile(r"<[A-Za-z/!?]")
_NAME = re.compile(r"<([A-Za-z][\w:.-]*)")
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]
)
_URL = re.compile(r"""(\s(?:href|src)\s*=\s*)(?:"([^"'<>]+)"|'([^"'<>]+)')""")
# A CSS selector on a URL attribute: css-inline would match it against the marker, not the URL.
_URL_SELECTOR = re.compile(r"\[\s*(?:href|src)\b", re.I)
_POSITION = re.compile(r"at position (\d+):(\d+)")
# A tag in compiled HTML (attribute values quoted, and holding anything but their quote).
_OUT_TAG = re.compile(r"""<[A-Za-z][^"'<>]*+(?:(?:"[^"]*+"|'[^']*+')[^"'<>]*+)*+>""")

Key = tuple[str, bool]  # (MJML, whether it is a shape with markers)
# Compiled HTML: literal parts, and markers by number (`~number` where MJML copied the text
# into an attribute, as it does `mj-title`'s: the value's `"` is escaped there).
Shape = tuple[str | int, ...]


class _Unmarkable:
    """A shape whose markers do not come out of the compile verbatim: compile the text as it is."""


UNMARKABLE = _Unmarkable()
CACHE: ByteBudgetCache[Shape | InvalidMjml | _Unmarkable] = ByteBudgetCache(CACHE_BYTES)


class Pending(Exception):
    """A render needs MJML compiled that is not yet; `settled` compiles it and renders again."""

    def __init__(self, key: Key) -> None:
        super().__init__("MJML to compile first")
        self.key = key


def _unread(run: str) -> InvalidMjml:
    found = _UNREAD_TAG.search(run)
    near = run[found.start() : found.start() + 40] if found else run[:40]
    return InvalidMjml(
        f"a tag that cannot be read near {near!r}: attribute values are quoted, and a `<` or `>` in one "
        "or in text is written &lt; or &gt;"
    )


def shape(text: str) -> tuple[Key, list[str]]:
    """What `text`'s compiled HTML is cached by, and the values that fill it in: `text` with its
    runs of text and its URLs as markers, or `text` as it is when it cannot have any."""
    if "HERALDMJ" in text:
        return (text, False), []
    if text.count("<") > MJML_MAX_TAGS:
        raise RenderLimit(f"the MJML has more than {MJML_MAX_TAGS:,} tags")
    parts = _TOKEN.split(text)
    values: list[str] = []
    for i in range(0, len(parts), 2):
        run = parts[i]
        if run and not run.isspace():
            if "<" in run:
                if _UNREAD_TAG.search(run):
                    raise _unread(run)
                return (text, False), []  # `a < b`: MRML says what is wrong with it
            parts[i] = _MARKER.format(len(values))
            values.append(run)
    if ("href" in text or "src" in text) and not _URL_SELECTOR.search(text):

        def url(m: re.Match[str]) -> str:
            values.append(m.group(2) or m.group(3))
            return f'{m.group(1)}"{_MARKER.format(len(values) - 1)}"'

        for i in range(1, len(parts), 2):
            tag = parts[i]
            if "=" in tag and tag[1] != "!" and "</" not in tag:
                parts[i] = _URL.sub(url, tag)
    if not values:
        return (text, False), []
    return ("".join(parts), True), values


def to_html(text: str) -> str:
    """Rendered MJML's email HTML, from the compiled shapes; `Pending` when it needs compiling."""
    key, values = shape(text)
    found = CACHE.get(key)
    if isinstance(found, _Unmarkable):
        key, values = (text, False), []
        found = CACHE.get(key)
    if found is None or isinstance(found, _Unmarkable):  # (only a shape is ever unmarkable)
        raise Pending(key)
    if isinstance(found, InvalidMjml):
        raise InvalidMjml(found.message)
    html = "".join(
        [p if isinstance(p, str) else values[p] if p >= 0 else values[~p].replace('"', "&quot;") for p in found]
    )
    if len(html) > EMAIL_BODY_MAX_CHARS:
        raise RenderLimit(f"the MJML compiles to {len(html):,} characters of HTML; at most {EMAIL_BODY_MAX_CHARS:,}")
    return html


def learn(key: Key, html: str | None, error: str | None) -> None:
    """Keep what compiling `key` came to: the shape, or why it cannot be used."""
    source, marked = key
    verdict: Shape | InvalidMjml | _Unmarkable
    if html is None:
        # A shape that does not compile is compiled as it is, for MRML's own word on the text.
        verdict = UNMARKABLE if marked else InvalidMjml(error or "the MJML does not compile")
    elif marked:
        found = _split(html)
        every = set(range(len(MARK.findall(source))))
        numbers = {p if p >= 0 else ~p for p in found if isinstance(p, int)}
        verdict = found if numbers == every else UNMARKABLE
    else:
        verdict = (html,)
    CACHE.put(key, verdict, len(source) + len(html or "") + ENTRY_OVERHEAD)


def _split(html: str) -> Shape:
    """Compiled HTML as literal parts and its markers, those inside a tag as `~number`."""
    tags = [m.span() for m in _OUT_TAG.finditer(html)]
    starts = [start for start, _ in tags]
    parts: list[str | int] = []
    at = 0
    for m in MARK.finditer(html):
        number = int(m.group(1))
        tag = bisect.bisect_right(starts, m.start()) - 1
        parts += [html[at : m.start()], ~number if tag >= 0 and tags[tag][1] > m.start() else number]
        at = m.end()
    parts.append(html[at:])
    return tuple(parts)


async def compile_async(key: Key) -> None:
    """Compile `key` in the compiler process, and keep the result."""
    if key in CACHE:
        return  # another render had it compiled meanwhile
    try:
        html, error = await asyncio.get_running_loop().run_in_executor(None, offload.mjml_remote, key[0])
    except offload.CompilerFailed:
        html, error = None, "the MJML could not be compiled: the compiler process failed"
    learn(key, html, error)


# A render needs at most two compiles (its shape, then its text when the shape cannot be used);
# the rest is for a shape pushed out of the cache by other renders while this one waited.
_ATTEMPTS = 4


async def settled(attempt: Callable[[], T]) -> T:
    """`attempt()`, a render, once the MJML it needs is compiled (in the compiler process)."""
    for _ in range(_ATTEMPTS):
        try:
            return attempt()
        except Pending as pending:
            await compile_async(pending.key)
    raise RenderLimit("the compiled MJML does not stay in its cache: too many different emails at once")


# -- In the compiler process -------------------------------------------------------------


def _refuse_include(path: str) -> str:
    raise ValueError(f"mj-include is not supported ({path!r})")


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    import css_inline

    # Nothing is fetched (by URL or from a path: css-inline would read local files), and the
    # <style>s and font <link>s stay for the media queries and the clients that read them.
    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=True, keep_link_tags=True)


def _checked(source: str) -> None:
    """Every tag readable, and nesting within `MJML_MAX_DEPTH`, before MRML recurses into it."""
    parts = _TOKEN.split(source)
    for run in parts[0::2]:
        if "<" in run and _UNREAD_TAG.search(run):
            raise _unread(run)
    depth = 0
    for tag in parts[1::2]:
        if tag[1] == "/":
            depth -= 1
            continue
        name = _NAME.match(tag)
        if name is None or tag.endswith("/>") or "</" in tag or name.group(1).lower() in _VOID:
            continue  # a comment, a raw element whole, an empty element
        depth += 1
        if depth > MJML_MAX_DEPTH:
            raise InvalidMjml(f"the MJML nests elements more than {MJML_MAX_DEPTH} deep")


def _explained(message: str, source: str) -> str:
    """MRML's message, with the text it points at."""
    found = _POSITION.search(message)
    if found is None:
        return f"invalid MJML: {message}"
    raw = source.encode("utf-8", "replace")
    start = int(found.group(1))
    line = raw[:start].count(b"\n") + 1
    near = raw[start : max(int(found.group(2)), start + 30)].decode("utf-8", "replace")
    return f"invalid MJML: {message} (line {line} of the rendered MJML, near {near!r})"


def compile_mjml(source: str) -> str:
    """MJML to email HTML with its CSS inlined, or InvalidMjml saying why not.

    Run by the compiler process (`offload`), not by the one serving.
    """
    import mjml

    _checked(source)
    try:
        html = mjml.mjml2html(source, include_loader=_refuse_include)
    except Exception as exc:  # whatever MRML makes of a user's MJML is that MJML's fault
        raise InvalidMjml(_explained(str(exc), source)) from exc
    if len(html) > EMAIL_BODY_MAX_CHARS:
        raise InvalidMjml(f"the MJML compiles to {len(html):,} characters of HTML; at most {EMAIL_BODY_MAX_CHARS:,}")
    try:
        return _inliner().inline(html)
    except Exception as exc:
        raise InvalidMjml(f"the MJML's CSS could not be inlined: {exc}") from exc
