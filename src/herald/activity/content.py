"""A notification's content per delivery, as sent where Herald keeps it, rendered again
where it does not.

Herald stores what it rendered only for in-app deliveries (the feed item is the message).
For email, SMS and push it stores the notification's data and the template's key, not the
rendering: keeping every rendered email would add the largest write of all to the send path.
Each delivery records the template version live when it was accepted, and versions are kept:
the render uses that version (the one live at send time may be newer, if a publish fell in
between), with the user's details as they are now; the answer says which.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.activity import repository
from herald.activity.schemas import ContentOut
from herald.channels.registry import spec
from herald.kit.channels import Channel
from herald.kit.errors import HeraldError
from herald.notifications.models import Delivery, Notification
from herald.recipients.models import User
from herald.templates.context import render_context, user_context
from herald.templates.models import Template, Version
from herald.templates.render import pick, prepare, render, uncompiled
from herald.templates.responsive import settled

IN_APP = "in_app"
_UNTRACKED = "rendered now: without the tracking links and open pixel it was sent with"


async def contents(session: AsyncSession, n: Notification, deliveries: Sequence[Delivery]) -> list[ContentOut]:
    """Each delivery's content: stored, rendered now, or why neither."""
    stored = await repository.feed_items(session, n.app_id, [d.id for d in deliveries if d.channel == IN_APP])
    template = await repository.template(session, n.app_id, n.template) if n.template else None
    user = await repository.user(session, n.app_id, n.user_id) if n.user_id else None
    versions: dict[int, Version | None] = {}
    out = []
    for d in deliveries:
        item = stored.get(d.id)
        if item is not None:
            content = {"title": item.title, "body": item.body, "action_url": item.action_url, "data": item.data}
            out.append(ContentOut(delivery_id=d.id, channel=Channel(d.channel), source="stored", content=content))
            continue
        recorded = d.template_version
        if n.template and recorded is not None and template is not None and recorded != template.version:
            if recorded not in versions:
                versions[recorded] = await repository.template_version(session, n.app_id, n.template, recorded)
            out.append(await _rendered(n, d, template, user, versions[recorded]))
        else:
            out.append(await _rendered(n, d, template, user))
    return out


async def _rendered(
    n: Notification, d: Delivery, template: Template | None, user: User | None, version: Version | None = None
) -> ContentOut:
    """Rendered now from the version the delivery recorded when that history is kept (else the
    template as it is now, which may have changed since)."""

    def unavailable(note: str) -> ContentOut:
        return ContentOut(delivery_id=d.id, channel=Channel(d.channel), source="unavailable", note=note)

    if n.template and template is None:
        return unavailable(f"the template {n.template!r} was deleted")
    if n.user_id and user is None:
        return unavailable("the user was deleted: their details are gone")
    stored = version.content if version else template.content if template else {"channels": n.content or {}}
    channels, locales = stored.get("channels", {}), stored.get("locales", {})
    inline = n.recipient or {}
    locale = user.locale if user else inline.get("locale")
    content = pick(channels, locales, locale, d.channel)
    if content is None:
        return unavailable(f"no {d.channel} content")
    if todo := uncompiled([content]):
        await prepare(todo)
    try:
        ctx = render_context(n.data, _user(user, inline), n.event_id, n.category)
        rendered = await settled(lambda: render(spec(d.channel), content, ctx))
    except HeraldError as exc:
        return unavailable(exc.message)
    notes = [_UNTRACKED] if d.channel == "email" else []
    if version is not None:
        notes.append(f"rendered from version {version.number}, the one live when it was accepted")
    elif template is not None and template.updated_at > n.created_at:
        notes.append(f"the template was edited after this notification (now version {template.version}): may differ")
    return ContentOut(
        delivery_id=d.id,
        channel=Channel(d.channel),
        source="rendered",
        content=dataclasses.asdict(rendered),
        template_version=version.number if version else template.version if template else None,
        note="; ".join(notes) or None,
    )


def _user(user: User | None, inline: dict[str, Any]) -> dict[str, Any]:
    if user is not None:
        return user_context(user.name, user.email, user.phone, user.locale, user.user_id, user.attributes)
    get = inline.get
    return user_context(get("name"), get("email"), get("phone"), get("locale"), None, {})
