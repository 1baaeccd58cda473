"""Previewing a template: every channel in every locale, rendered, with the problems found.

A broken template previews as messages with problems, not as an error: a console shows them
while its user types. Missing variables are absorbed (and named: `sandbox.Recording`), so the
rest of the message still renders; the limits are the send path's own, so a preview that
passes them renders the same at send time with the same data.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from typing import Any

from herald.cache.interface import ContactCache
from herald.channels.push import RenderedPush
from herald.channels.registry import spec
from herald.channels.sms import RenderedSms
from herald.kit.channels import Channel
from herald.kit.errors import HeraldError, InvalidMjml, InvalidTemplate, RenderLimit, UserNotFound
from herald.kit.uow import UnitOfWork
from herald.templates import service
from herald.templates.context import render_context, user_context
from herald.templates.limits import PUSH_FIELD_MAX_CHARS, PUSH_MAX_BYTES, push_bytes
from herald.templates.render import LAYOUTS, Fields, prepare, uncompiled
from herald.templates.responsive import settled
from herald.templates.schemas import PreviewIn, PreviewMessage, PreviewOut, Problem, PushInfo, SmsInfo


async def _user(cards: ContactCache, app_id: uuid.UUID, user_id: str) -> dict[str, Any]:
    """The user as a send sees them, from the same contact cards."""
    card = (await cards.get_many([(app_id, user_id)])).get((app_id, user_id))
    if card is None:
        raise UserNotFound(f"user {user_id!r} does not exist", field="user_id")
    return user_context(card.name, card.email, card.phone, card.locale, card.user_id, card.attributes)


async def _content(uow: UnitOfWork, app_id: uuid.UUID, key: str, body: PreviewIn) -> tuple[dict[str, Any], int | None]:
    if body.template is not None:
        return service.authored(body.template).content, None
    v = await service.version_of(uow, app_id, key, body.version)
    return v.content, v.number


async def preview(uow: UnitOfWork, cards: ContactCache, app_id: uuid.UUID, key: str, body: PreviewIn) -> PreviewOut:
    content, number = await _content(uow, app_id, key, body)
    content = await service.linked_content(uow, app_id, content)
    data = body.data if body.data is not None else content.get("sample_data") or {}
    given = data.get("user")
    user = await _user(cards, app_id, body.user_id) if body.user_id else given if isinstance(given, dict) else {}
    ctx = render_context(data, user, "preview", None)
    variants: list[tuple[str | None, dict[str, Any]]] = [(None, content.get("channels", {}))]
    variants += sorted(content.get("locales", {}).items())
    if todo := uncompiled(c for _, channels in variants for c in channels.values()):
        await prepare(todo)  # a large template compiles off the event loop
    # In the channels' own order: a JSONB column keeps its keys in an order of its own.
    messages = [
        await settled(functools.partial(message, locale, channel, channels[channel.value], ctx))
        for locale, channels in variants
        for channel in Channel.all()
        if channel.value in channels
    ]
    return PreviewOut(version=number, messages=messages, problems=sum(len(m.problems) for m in messages))


def message(locale: str | None, channel: Channel, content: dict[str, Any], ctx: dict[str, Any]) -> PreviewMessage:
    """One channel's content rendered, with what is wrong with it."""
    fields = Fields(ctx, True, content.get(LAYOUTS), record=True)
    problems: list[Problem] = []
    rendered: Any = None
    try:
        rendered = spec(channel).render(content, fields)
    except RenderLimit as exc:
        problems.append(Problem(kind="limit", field=exc.field, message=exc.message))
    except InvalidMjml as exc:
        problems.append(Problem(kind="invalid_mjml", field=exc.field, message=exc.message))
    except InvalidTemplate as exc:
        problems.append(Problem(kind="invalid_template", field=exc.field, message=exc.message))
    except HeraldError as exc:
        problems.append(Problem(kind="render_error", field=exc.field, message=exc.message))
    for field, names in (fields.missing or {}).items():
        problems.append(
            Problem(kind="undefined_variable", field=field, message=f"undefined: {', '.join(names)}", names=names)
        )
    out = PreviewMessage(
        locale=locale,
        channel=channel,
        rendered=None if rendered is None else dataclasses.asdict(rendered),
        problems=problems,
    )
    if isinstance(rendered, RenderedSms):
        s = rendered.segments
        out.sms = SmsInfo(encoding=s.encoding, units=s.units, segments=s.count)
    if isinstance(rendered, RenderedPush):
        out.push = PushInfo(bytes=push_bytes(rendered.title, rendered.body, rendered.data), limit=PUSH_MAX_BYTES)
    elif any(p.field == "push" for p in problems):
        out.push = PushInfo(bytes=_push_size(content, ctx), limit=PUSH_MAX_BYTES)
    return out


def _push_size(content: dict[str, Any], ctx: dict[str, Any]) -> int:
    """An over-size push's size: its fields rendered one by one (the channel stops at the limit)."""
    fields = Fields(ctx, True)
    cap = PUSH_FIELD_MAX_CHARS

    def one(source: str, name: str) -> str:
        return fields.render(source, field=f"push.{name}", cap=cap)

    data = {k: one(v, f"data.{k}") for k, v in content.get("data", {}).items()}
    return push_bytes(one(content["title"], "title"), one(content["body"], "body"), data)
