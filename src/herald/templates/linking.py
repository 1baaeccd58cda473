"""Linking an email's html to the layouts it extends.

A send reads one row: the live template's email content carries, under `layouts`, the live
source of each layout its html extends, copied there when the template is published and again
whenever one of those layouts is (`relink`). The versions keep what the author wrote, without
them. Compiled templates are cached by source, so a new layout source is compiled on its first
use and the old one ages out of the cache: nothing else needs invalidating.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from herald.kit.channels import Channel
from herald.kit.errors import InvalidTemplate
from herald.templates.compiler import extended
from herald.templates.render import LAYOUTS

_EMAIL = Channel.EMAIL.value


def _contents(content: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field prefix, {channel: content}) of the default content and of each locale."""
    yield "channels", content.get("channels", {})
    for locale, variant in content.get("locales", {}).items():
        yield f"locales.{locale}", variant


def named(content: dict[str, Any]) -> dict[str, str]:
    """The layouts this content's emails extend, each with the first field naming it."""
    out: dict[str, str] = {}
    for prefix, channels in _contents(content):
        html = (channels.get(_EMAIL) or {}).get("html")
        for name in sorted(extended(html)) if html else ():
            out.setdefault(name, f"{prefix}.email.html")
    return out


def require(content: dict[str, Any], sources: dict[str, str]) -> None:
    """Refuse content extending a layout that is not live (publishing needs them all)."""
    for name, field in named(content).items():
        if name not in sources:
            raise InvalidTemplate(f"layout {name!r} is not published", field=field)


def _fill(channels: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    email = channels.get(_EMAIL)
    if not email or not email.get("html"):
        return channels
    names = extended(email["html"])
    if not names:
        return channels
    return {**channels, _EMAIL: {**email, LAYOUTS: {n: sources[n] for n in sorted(names) if n in sources}}}


def link(content: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    """The content with each email carrying the sources of the layouts it extends."""
    out = dict(content)
    out["channels"] = _fill(content.get("channels", {}), sources)
    out["locales"] = {locale: _fill(v, sources) for locale, v in content.get("locales", {}).items()}
    return out


def relink(content: dict[str, Any], key: str, source: str) -> dict[str, Any] | None:
    """Live content with layout `key`'s new source, or None when it does not use that layout."""
    used = any(key in ((c.get(_EMAIL) or {}).get(LAYOUTS) or {}) for _, c in _contents(content))
    if not used:
        return None
    sources = {n: s for _, c in _contents(content) for n, s in ((c.get(_EMAIL) or {}).get(LAYOUTS) or {}).items()}
    return link(content, {**sources, key: source})


def unlinked(channels: dict[str, Any]) -> dict[str, Any]:
    """{channel: content} as its author wrote it, without the copied layouts."""
    email = channels.get(_EMAIL)
    if not email or LAYOUTS not in email:
        return channels
    return {**channels, _EMAIL: {k: v for k, v in email.items() if k != LAYOUTS}}
