"""Linking an email's html (or MJML) to the layouts it extends.

A send reads one row: the live template's email content carries, under `layouts`, the live
source of each layout its html extends, copied there when the template is published and again
whenever one of those layouts is (`relink`). The versions keep what the author wrote, without
them. Compiled templates are cached by source, so a new layout source is compiled on its first
use and the old one ages out of the cache: nothing else needs invalidating.

A layout is written in html or in MJML (its content holds one of the two), and an email extends
only layouts written as its own body is: an html page around MJML, or the reverse, is no email.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from herald.kit.channels import Channel
from herald.kit.errors import InvalidTemplate
from herald.templates.compiler import extended
from herald.templates.render import HTML_FIELDS, LAYOUTS

_EMAIL = Channel.EMAIL.value
# Live layouts by key, each its content: {"html": source} or {"mjml": source}.
Frames = dict[str, dict[str, Any]]


def _contents(content: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field prefix, {channel: content}) of the default content and of each locale."""
    yield "channels", content.get("channels", {})
    for locale, variant in content.get("locales", {}).items():
        yield f"locales.{locale}", variant


def body(email: dict[str, Any] | None) -> tuple[str, str] | None:
    """(field, source) of the email's body that may extend a layout: its html or its MJML."""
    for field in HTML_FIELDS:
        source = (email or {}).get(field)
        if source:
            return field, source
    return None


def named(content: dict[str, Any]) -> dict[str, str]:
    """The layouts this content's emails extend, each with the first field naming it."""
    out: dict[str, str] = {}
    for prefix, channels in _contents(content):
        found = body(channels.get(_EMAIL))
        if found is None:
            continue
        field, source = found
        for name in sorted(extended(source)):
            out.setdefault(name, f"{prefix}.email.{field}")
    return out


def require(content: dict[str, Any], layouts: Frames) -> None:
    """Refuse content extending a layout that is not live (publishing needs them all)."""
    for name, field in named(content).items():
        if name not in layouts:
            raise InvalidTemplate(f"layout {name!r} is not published", field=field)


def _fill(prefix: str, channels: dict[str, Any], layouts: Frames) -> dict[str, Any]:
    email = channels.get(_EMAIL)
    found = body(email)
    if email is None or found is None:
        return channels
    field, source = found
    names = extended(source)
    if not names:
        return channels
    sources: dict[str, str] = {}
    for name in sorted(names):
        layout = layouts.get(name)
        if layout is None:
            continue
        if field not in layout:
            raise InvalidTemplate(
                f"layout {name!r} is not written in {field}: an email's {field} extends a layout written in {field}",
                field=f"{prefix}.email.{field}",
            )
        sources[name] = layout[field]
    return {**channels, _EMAIL: {**email, LAYOUTS: sources}}


def link(content: dict[str, Any], layouts: Frames) -> dict[str, Any]:
    """The content with each email carrying the sources of the layouts it extends."""
    out = dict(content)
    out["channels"] = _fill("channels", content.get("channels", {}), layouts)
    out["locales"] = {
        locale: _fill(f"locales.{locale}", v, layouts) for locale, v in content.get("locales", {}).items()
    }
    return out


def relink(content: dict[str, Any], key: str, layout: dict[str, Any]) -> dict[str, Any] | None:
    """Live content with layout `key`'s new content, or None when it does not use that layout;
    InvalidTemplate when the layout is now written in the other language than the email."""
    used = any(key in ((c.get(_EMAIL) or {}).get(LAYOUTS) or {}) for _, c in _contents(content))
    if not used:
        return None
    current: Frames = {}
    for _, channels in _contents(content):
        email = channels.get(_EMAIL) or {}
        found = body(email)
        for name, source in (email.get(LAYOUTS) or {}).items():
            if found is not None:
                current[name] = {found[0]: source}
    return link(content, {**current, key: layout})


def unlinked(channels: dict[str, Any]) -> dict[str, Any]:
    """{channel: content} as its author wrote it, without the copied layouts."""
    email = channels.get(_EMAIL)
    if not email or LAYOUTS not in email:
        return channels
    return {**channels, _EMAIL: {k: v for k, v in email.items() if k != LAYOUTS}}
