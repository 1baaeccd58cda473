"""Loading claimed deliveries with everything the send path needs, in a few queries per batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from herald.notifications.models import Delivery, Notification
from herald.recipients.models import Suppression
from herald.templates.models import Template


@dataclass(frozen=True, slots=True)
class Work:
    """One claimed delivery, its notification, and the content it will be rendered from."""

    delivery: Delivery
    notification: Notification
    channels: dict[str, Any]
    locales: dict[str, Any]
    suppressed: bool = False


async def load(session: AsyncSession, ids: Sequence[uuid.UUID], owner: str) -> list[Work]:
    """The deliveries still leased to `owner`; one leased away meanwhile is dropped."""
    rows = (
        await session.execute(
            select(Delivery, Notification)
            .join(Notification, Notification.id == Delivery.notification_id)
            .where(Delivery.id.in_(ids), Delivery.lease_owner == owner)
        )
    ).all()
    keys = {(n.app_id, n.template) for _, n in rows if n.template}
    templates: dict[tuple[uuid.UUID, str], Template] = {}
    if keys:
        found = await session.scalars(select(Template).where(tuple_(Template.app_id, Template.key).in_(list(keys))))
        templates = {(t.app_id, t.key): t for t in found}
    out = []
    for d, n in rows:
        if n.template:
            t = templates.get((n.app_id, n.template))
            channels, locales = (t.content.get("channels", {}), t.content.get("locales", {})) if t else ({}, {})
        else:
            channels, locales = n.content or {}, {}
        out.append(Work(d, n, channels, locales))
    return out


async def suppressed(session: AsyncSession, pairs: set[tuple[uuid.UUID, str, str]]) -> set[tuple[uuid.UUID, str, str]]:
    """Which (app, channel, address) pairs are suppressed."""
    if not pairs:
        return set()
    rows = await session.execute(
        select(Suppression.app_id, Suppression.channel, Suppression.address).where(
            tuple_(Suppression.app_id, Suppression.channel, Suppression.address).in_(list(pairs))
        )
    )
    return {(a, c, addr) for a, c, addr in rows.all()}
