"""Every SQL statement about notifications, deliveries and attempts on the intake/read side."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.db import Base, upsert_insert
from herald.notifications.intake import Plan
from herald.notifications.models import Attempt, Delivery, Notification


def row_of(obj: Base) -> dict[str, Any]:
    """An unsaved ORM object as a plain row, for bulk Core inserts."""
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}


async def insert_plans(session: AsyncSession, plans: Sequence[Plan]) -> set[uuid.UUID]:
    """Insert the notifications that are new and their deliveries; returns the ids inserted.

    `ON CONFLICT DO NOTHING` on (app_id, event_id) makes dedup race-free across API
    processes: of two concurrent requests with one event id, exactly one row wins.
    """
    if not plans:
        return set()
    stmt = (
        upsert_insert(session, Notification)
        .on_conflict_do_nothing(index_elements=["app_id", "event_id"])
        .returning(Notification.id)
    )
    result = await session.execute(stmt, [row_of(p.notification) for p in plans])
    inserted = set(result.scalars().all())
    rows = [row_of(d) for p in plans if p.notification.id in inserted for d in p.deliveries]
    if rows:
        await session.execute(insert(Delivery), rows)
    return inserted


async def by_event_ids(session: AsyncSession, app_id: uuid.UUID, event_ids: Iterable[str]) -> dict[str, Notification]:
    ids = list(set(event_ids))
    if not ids:
        return {}
    rows = await session.scalars(
        select(Notification).where(Notification.app_id == app_id, Notification.event_id.in_(ids))
    )
    return {n.event_id: n for n in rows}


async def deliveries_of(
    session: AsyncSession, notification_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Delivery]]:
    out: dict[uuid.UUID, list[Delivery]] = {i: [] for i in notification_ids}
    if not notification_ids:
        return out
    rows = await session.scalars(
        select(Delivery).where(Delivery.notification_id.in_(notification_ids)).order_by(Delivery.id)
    )
    for d in rows:
        out[d.notification_id].append(d)
    return out


async def attempts_of(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Attempt]]:
    out: dict[uuid.UUID, list[Attempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return out
    rows = await session.scalars(select(Attempt).where(Attempt.delivery_id.in_(delivery_ids)).order_by(Attempt.number))
    for a in rows:
        out[a.delivery_id].append(a)
    return out


async def get(session: AsyncSession, app_id: uuid.UUID, notification_id: uuid.UUID) -> Notification | None:
    return await session.scalar(
        select(Notification).where(Notification.app_id == app_id, Notification.id == notification_id)
    )


def page_query(
    app_id: uuid.UUID,
    *,
    user_id: str | None,
    event_id: str | None,
    category: str | None,
    state: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    before_id: uuid.UUID | None,
    limit: int,
) -> Select[Notification]:
    """Newest first, keyset-paginated on the time-ordered id."""
    stmt = select(Notification).where(Notification.app_id == app_id)
    if user_id is not None:
        stmt = stmt.where(Notification.user_id == user_id)
    if event_id is not None:
        stmt = stmt.where(Notification.event_id == event_id)
    if category is not None:
        stmt = stmt.where(Notification.category == category)
    if created_after is not None:
        stmt = stmt.where(Notification.created_at >= created_after)
    if created_before is not None:
        stmt = stmt.where(Notification.created_at < created_before)
    if state is not None:
        stmt = stmt.where(
            Notification.id.in_(
                select(Delivery.notification_id).where(Delivery.app_id == app_id, Delivery.state == state)
            )
        )
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return stmt.order_by(Notification.id.desc()).limit(limit)
