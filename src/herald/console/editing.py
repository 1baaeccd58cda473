"""The template editor's form, both ways: a version's content as form values, and a posted
form as the `TemplateIn` the API takes, with its errors by control.

The controls come from each registered channel's content model (a string is a line or a text
area, a `dict[str, str]` a JSON object), so a new channel shows in the editor without an edit
here. A control's id is `<channel>__<field>` (`<channel>__<field>__<locale>` in a locale): the
preview's problems and the service's errors (`locales.<locale>.<channel>.<field>`) point at it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_origin

from pydantic import ValidationError
from starlette.datastructures import FormData

from herald.channels.registry import CHANNELS
from herald.kit.errors import field_of
from herald.templates import linking
from herald.templates.render import HTML_FIELDS
from herald.templates.schemas import TemplateIn

LOCALE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,3}$")
MAX_LOCALES = 20
# The layout an email's html (or MJML) extends, as the editor's layout choice writes it: its first line.
_EXTENDS = re.compile(r"""\A\s*\{%-?\s*extends\s+["']([A-Za-z0-9_.:-]{1,200})["']\s*-?%\}[ \t]*\n?""")
_TEXTAREA_FROM = 4000  # a field that may hold this many characters gets a text area


@dataclass(frozen=True, slots=True)
class Control:
    name: str
    kind: Literal["line", "text", "pairs"]
    required: bool


@dataclass(slots=True)
class EditorForm:
    """The editor's values as text, by control id, and what applies to the whole template."""

    description: str = ""
    default_locale: str = "en"
    locales: list[str] = field(default_factory=list)
    layout: str = ""
    sample_data: str = ""
    values: dict[str, str] = field(default_factory=dict)
    # What was wrong as it was read (a locale that is not a language tag).
    read_errors: dict[str, str] = field(default_factory=dict)


def controls(channel: str) -> list[Control]:
    """One channel's controls, from its content model."""
    out = []
    for name, info in CHANNELS[channel].content.model_fields.items():
        if get_origin(info.annotation) is dict:
            out.append(Control(name, "pairs", False))
            continue
        longest = max((m.max_length for m in info.metadata if hasattr(m, "max_length")), default=None)
        kind: Literal["line", "text"] = "text" if longest is None or longest >= _TEXTAREA_FROM else "line"
        out.append(Control(name, kind, info.is_required()))
    return out


def channels() -> list[str]:
    return list(CHANNELS)


def control_id(locale: str | None, channel: str, name: str) -> str:
    return f"{channel}__{name}__{locale}" if locale else f"{channel}__{name}"


def id_of(dotted: str | None, locale: str | None = None) -> str:
    """The control a dotted field names (`channels.email.subject`, `locales.fr.sms.text`, or
    relative to a locale: `email.subject`); a field of the whole template is its own name."""
    parts = (dotted or "form").split(".")
    if parts[0] == "channels":
        parts = parts[1:]
    elif parts[0] == "locales" and len(parts) > 1:
        locale, parts = parts[1], parts[2:]
    if parts and parts[0] in CHANNELS:
        names = [c.name for c in controls(parts[0])]
        name = parts[1] if len(parts) > 1 and parts[1] in names else names[0]
        return control_id(locale, parts[0], name)
    return parts[0] if parts and parts[0] else "form"


def layout_of(content: dict[str, Any]) -> str:
    written = linking.body((content.get("channels") or {}).get("email"))
    found = _EXTENDS.match(written[1]) if written else None
    return found.group(1) if found else ""


def from_version(description: str | None, default_locale: str, content: dict[str, Any]) -> EditorForm:
    """A saved version as the editor's values; the layout line leaves the html for the choice."""
    form = EditorForm(description or "", default_locale, sorted(content.get("locales", {})), layout_of(content))
    if content.get("sample_data") is not None:
        form.sample_data = json.dumps(content["sample_data"], indent=2, ensure_ascii=False)
    variants = [(None, content.get("channels", {})), *sorted(content.get("locales", {}).items())]
    for locale, by_channel in variants:
        for channel, values in by_channel.items():
            for c in controls(channel) if channel in CHANNELS else []:
                value = values.get(c.name)
                if c.kind == "pairs":
                    form.values[control_id(locale, channel, c.name)] = json.dumps(value, indent=2) if value else ""
                elif isinstance(value, str):
                    text = _EXTENDS.sub("", value, count=1) if c.name in HTML_FIELDS and form.layout else value
                    form.values[control_id(locale, channel, c.name)] = text
    return form


def _text(data: FormData, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _locales(data: FormData, errors: dict[str, str]) -> list[str]:
    wanted = [v for v in data.getlist("locale") if isinstance(v, str)]
    added = _text(data, "add_locale").strip()
    if added:
        wanted.append(added)
    out: list[str] = []
    for locale in wanted:
        if not LOCALE.match(locale):
            errors["add_locale"] = "a locale is a language tag: en, fr, pt-BR"
        elif locale not in out:
            out.append(locale)
    if len(out) > MAX_LOCALES:
        errors["add_locale"] = f"at most {MAX_LOCALES} locales"
    return out[:MAX_LOCALES]


def read(data: FormData) -> EditorForm:
    """A posted editor form, as text (to fill the form again whatever its errors)."""
    errors: dict[str, str] = {}
    form = EditorForm(
        description=_text(data, "description"),
        default_locale=_text(data, "default_locale").strip() or "en",
        locales=_locales(data, errors),
        layout=_text(data, "layout").strip(),
        sample_data=_text(data, "sample_data"),
        read_errors=errors,
    )
    for locale in [None, *form.locales]:
        for channel in CHANNELS:
            for c in controls(channel):
                cid = control_id(locale, channel, c.name)
                form.values[cid] = _text(data, cid)
    return form


def _pairs(text: str, cid: str, errors: dict[str, str]) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        errors[cid] = f"not valid JSON: {exc}"
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors[cid] = 'a JSON object of texts, e.g. {"url": "/orders/{{ order.id }}"}'
        return None
    return value


def _variant(form: EditorForm, locale: str | None, errors: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for channel in CHANNELS:
        content: dict[str, Any] = {}
        for c in controls(channel):
            cid = control_id(locale, channel, c.name)
            text = form.values.get(cid, "")
            if not text.strip():
                continue
            if c.kind == "pairs":
                content[c.name] = _pairs(text, cid, errors) or {}
            elif c.name in HTML_FIELDS and form.layout:
                content[c.name] = f'{{% extends "{form.layout}" %}}\n{text}'
            else:
                content[c.name] = text
        if content:
            out[channel] = content
    return out


def _sample(form: EditorForm, errors: dict[str, str]) -> dict[str, Any] | None:
    if not form.sample_data.strip():
        return None
    try:
        value = json.loads(form.sample_data)
    except ValueError as exc:
        errors["sample_data"] = f"not valid JSON: {exc}"
        return None
    if not isinstance(value, dict):
        errors["sample_data"] = 'a JSON object, e.g. {"order": {"id": 42}}'
        return None
    return value


def to_template(form: EditorForm) -> tuple[TemplateIn | None, dict[str, str]]:
    """The form as the API's `TemplateIn`, or None and the errors by control id."""
    errors = dict(form.read_errors)
    if form.layout and not _EXTENDS.match(f'{{% extends "{form.layout}" %}}'):
        errors["layout"] = "not a layout's key"
    raw: dict[str, Any] = {
        "description": form.description.strip() or None,
        "default_locale": form.default_locale,
        "channels": _variant(form, None, errors),
        "locales": {locale: _variant(form, locale, errors) for locale in form.locales},
        "sample_data": _sample(form, errors),
    }
    if errors:
        return None, errors
    try:
        return TemplateIn.model_validate(raw), {}
    except ValidationError as exc:
        for err in exc.errors():
            errors.setdefault(id_of(field_of(err["loc"])), str(err["msg"]).removeprefix("Value error, "))
        return None, errors
