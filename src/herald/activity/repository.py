"""The reads the Activity views make beyond the notification log's own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.events.models import DeliveryEvent
from herald.feed.models import FeedItem
from herald.recipients.models import User
from herald.templates.models import Kind, Template, Version


async def events(session: AsyncSession, delivery_ids: Sequence[uuid.UUID], limit: int) -> list[DeliveryEvent]:
    """The deliveries' events in time order, at most `limit` (an email opened by a scanner
    thousands of times has as many rows)."""
    if not delivery_ids:
        return []
    stmt = (
        select(DeliveryEvent)
        .where(DeliveryEvent.delivery_id.in_(list(delivery_ids)))
        .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def feed_items(session: AsyncSession, app_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, FeedItem]:
    """In-app items by id (an item's id is its delivery's)."""
    if not ids:
        return {}
    stmt = select(FeedItem).where(FeedItem.id.in_(list(ids)), FeedItem.app_id == app_id)
    return {f.id: f for f in await session.scalars(stmt)}


async def template(session: AsyncSession, app_id: uuid.UUID, key: str) -> Template | None:
    return await session.get(Template, (app_id, key))


async def template_version(session: AsyncSession, app_id: uuid.UUID, key: str, number: int) -> Version | None:
    return await session.get(Version, (app_id, Kind.TEMPLATE.value, key, number))


async def user(session: AsyncSession, app_id: uuid.UUID, user_id: str) -> User | None:
    return await session.get(User, (app_id, user_id))
