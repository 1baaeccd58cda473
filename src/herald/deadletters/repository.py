"""Every SQL statement about dead letters."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.clock import utcnow
from herald.notifications.models import Delivery, DeliveryState, Notification


def page(
    app_id: uuid.UUID | None,
    *,
    channel: str | None,
    reason: str | None,
    since: datetime | None,
    before: uuid.UUID | None,
    limit: int,
    provider: str | None = None,
    until: datetime | None = None,
) -> Select[Delivery, Notification]:
    stmt = (
        select(Delivery, Notification)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.state == DeliveryState.DEAD)
    )
    if app_id is not None:
        stmt = stmt.where(Delivery.app_id == app_id)
    if channel is not None:
        stmt = stmt.where(Delivery.channel == channel)
    if reason is not None:
        stmt = stmt.where(Delivery.reason == reason)
    if provider is not None:
        stmt = stmt.where(Delivery.provider == provider)
    if since is not None:
        stmt = stmt.where(Delivery.finished_at >= since)
    if until is not None:
        stmt = stmt.where(Delivery.finished_at < until)
    if before is not None:
        stmt = stmt.where(Delivery.id < before)
    return stmt.order_by(Delivery.id.desc()).limit(limit)


async def revive(session: AsyncSession, ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, str]]:
    """Move dead deliveries back to `queued` with a fresh retry budget.

    Only rows still `dead` change, so a second replay of the same letter does nothing: the
    delivery keeps its idempotency key and is sent once.
    """
    if not ids:
        return []
    now = utcnow()
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.DEAD)
        .values(
            state=DeliveryState.QUEUED,
            reason=None,
            available_at=now,
            updated_at=now,
            finished_at=None,
            replays=Delivery.replays + 1,
            retry_base=Delivery.attempts,
            replayed_at=now,
        )
        .returning(Delivery.id, Delivery.channel)
        .execution_options(synchronize_session=False)
    )
    return [(i, c) for i, c in (await session.execute(stmt)).all()]
