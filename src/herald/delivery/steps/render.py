"""The delivery's content in the recipient's locale, rendered within the limits and composed
into the channel's message."""

from __future__ import annotations

import asyncio

from herald.channels.base import Meta
from herald.delivery.sending import Fail, Sending, Skip, Stop
from herald.kit.errors import HeraldError, RenderLimit
from herald.notifications.models import SkipReason
from herald.templates.context import render_context, user_context
from herald.templates.render import pick, prepare, render, uncompiled
from herald.templates.responsive import settled

_NO_CONTENT = Skip(SkipReason.NO_CONTENT)


class Render:
    async def __call__(self, s: Sending) -> Stop | None:
        d, n, card = s.work.delivery, s.work.notification, s.card
        inline = n.recipient or {}
        locale = card.locale if card else inline.get("locale")
        content = pick(s.work.channels, s.work.locales, locale, d.channel)
        if content is None:
            return _NO_CONTENT
        if todo := uncompiled([content]):
            await prepare(todo)  # a large template compiles off the event loop
        if card is not None:
            user = user_context(card.name, card.email, card.phone, card.locale, card.user_id, card.attributes)
        else:
            get = inline.get
            user = user_context(get("name"), get("email"), get("phone"), get("locale"), None, {})
        ctx = render_context(n.data, user, n.event_id, n.category)
        if s.variables:
            ctx.update(s.variables)
        try:
            rendered = await settled(lambda: render(s.channel, content, ctx))
        except HeraldError as exc:
            if isinstance(exc, RenderLimit):
                await asyncio.sleep(0)  # it may have run for its whole CPU budget: others go first
            return Fail(exc.code, exc.message)
        s.content = content
        meta = Meta(d.idempotency_key, n.id, n.category, n.critical, user["name"])
        s.message = s.channel.compose(rendered, s.target, meta)
        return None
