"""Every statement on the timeline: the deliveries events name, the events, the outcome ladder,
engagement summaries, and the suppressions a provider's verdict calls for."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.events.kinds import OUTCOME_RANK
from herald.events.models import DeliveryEvent, Engagement
from herald.kit.db import in_list, upsert_insert
from herald.notifications.models import Delivery, Notification
from herald.recipients.models import Suppression


@dataclass(frozen=True, slots=True)
class Target:
    """What an event needs to know of the delivery it names."""

    delivery_id: uuid.UUID
    app_id: uuid.UUID
    notification_id: uuid.UUID
    channel: str
    user_id: str | None
    category: str | None
    template: str | None
    provider: str | None
    # When Herald accepted it: rollups count a delivery's whole story in the hour it was
    # accepted (a cohort), so late and reordered events land in the same bucket as the send.
    created_at: datetime


async def targets(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Target]:
    if not ids:
        return {}
    dialect = session.get_bind().dialect.name
    stmt = (
        select(
            Delivery.id,
            Delivery.app_id,
            Delivery.notification_id,
            Delivery.channel,
            Notification.user_id,
            Notification.category,
            Notification.template,
            Delivery.provider,
            Delivery.created_at,
        )
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(in_list(Delivery.id, "ids", dialect))
    )
    rows = await session.execute(stmt, {"ids": list(set(ids))})
    return {row[0]: Target(*row) for row in rows}


async def insert_event(session: AsyncSession, row: dict[str, Any]) -> bool:
    """The event, unless this delivery already has one with its dedupe value; whether it is new."""
    stmt = upsert_insert(session, DeliveryEvent).values(**row)
    stmt = stmt.on_conflict_do_nothing(index_elements=["delivery_id", "dedupe"])
    return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


_RANK = case(
    *((Delivery.outcome == outcome, rank) for outcome, rank in OUTCOME_RANK.items()),
    else_=0,
)


async def advance_outcome(
    session: AsyncSession, delivery_id: uuid.UUID, outcome: str, code: str | None, at: datetime
) -> bool:
    """Move the delivery's outcome up the ladder to `outcome`; False if it is there or higher."""
    stmt = (
        update(Delivery)
        .where(Delivery.id == delivery_id, literal(OUTCOME_RANK[outcome]) > _RANK)
        .values(outcome=outcome, outcome_code=code, outcome_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def engage(session: AsyncSession, app_id: uuid.UUID, delivery_id: uuid.UUID, kind: str, at: datetime) -> bool:
    """Count one engagement; True if it is the delivery's first of this kind (a unique one)."""
    stmt = upsert_insert(session, Engagement).values(
        delivery_id=delivery_id, kind=kind, app_id=app_id, first_at=at, last_at=at, count=1
    )
    c, new = Engagement.__table__.c, stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["delivery_id", "kind"],
        # Events arrive out of order: the earliest and the latest, whichever came when.
        set_={
            "count": c.count + 1,
            "first_at": case((new.first_at < c.first_at, new.first_at), else_=c.first_at),
            "last_at": case((new.last_at > c.last_at, new.last_at), else_=c.last_at),
        },
    ).returning(c.count)
    count = (await session.execute(stmt)).scalar_one()
    return int(count) == 1


async def suppress(
    session: AsyncSession, app_id: uuid.UUID, channel: str, address: str, reason: str, at: datetime
) -> None:
    stmt = upsert_insert(session, Suppression).values(
        app_id=app_id, channel=channel, address=address, reason=reason[:200], created_at=at
    )
    await session.execute(stmt.on_conflict_do_nothing())


async def timeline(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[DeliveryEvent]]:
    if not delivery_ids:
        return {}
    stmt = (
        select(DeliveryEvent)
        .where(DeliveryEvent.delivery_id.in_(list(delivery_ids)))
        .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
    )
    out: dict[uuid.UUID, list[DeliveryEvent]] = {}
    for e in (await session.scalars(stmt)).all():
        out.setdefault(e.delivery_id, []).append(e)
    return out


async def engagements(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Engagement]]:
    if not delivery_ids:
        return {}
    stmt = select(Engagement).where(Engagement.delivery_id.in_(list(delivery_ids))).order_by(Engagement.kind)
    out: dict[uuid.UUID, list[Engagement]] = {}
    for e in (await session.scalars(stmt)).all():
        out.setdefault(e.delivery_id, []).append(e)
    return out
