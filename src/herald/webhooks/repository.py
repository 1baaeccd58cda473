"""Every SQL statement about webhooks: endpoints, the subscriptions snapshot, messages owed
(written, claimed, settled, replayed) and the attempt log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.kit.db import UtcDateTime, dialect_name, in_list
from herald.notifications.models import Notification
from herald.webhooks.models import MessageState, WebhookAttempt, WebhookEndpoint, WebhookMessage

M = WebhookMessage
E = WebhookEndpoint


async def endpoint(session: AsyncSession, app_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    return await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.app_id == app_id)
    )


async def endpoints(session: AsyncSession, app_id: uuid.UUID) -> list[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.app_id == app_id).order_by(WebhookEndpoint.id)
    )
    return list(rows.all())


async def count(session: AsyncSession, app_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.app_id == app_id)
    return int(await session.scalar(stmt) or 0)


async def subscriptions(conn: AsyncConnection) -> list[tuple[uuid.UUID, uuid.UUID, list[str]]]:
    """(endpoint id, app id, types) of every enabled endpoint: the consumer's snapshot."""
    rows = await conn.execute(select(E.id, E.app_id, E.events).where(E.enabled.is_(True)))
    return [(r[0], r[1], list(r[2])) for r in rows]


async def event_ids(conn: AsyncConnection, notification_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The apps' own event ids of these notifications."""
    stmt = select(Notification.id, Notification.event_id).where(in_list(Notification.id, "ids", dialect_name(conn)))
    return {r[0]: r[1] for r in await conn.execute(stmt, {"ids": list(notification_ids)})}


_OWED = ("id", "app_id", "body", "event_type", "created_at", "next_at")


async def insert_messages(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """One pending message per row, for its endpoint if that is still there and enabled: an
    endpoint deleted since the snapshot was read must not fail the event's transaction."""
    values = [bindparam(name, type_=WebhookMessage.__table__.c[name].type) for name in _OWED]
    source = select(*values, E.id, literal(MessageState.PENDING), literal(0), literal(0)).where(
        E.id == bindparam("endpoint_id", type_=E.id.type), E.enabled.is_(True)
    )
    columns = [*_OWED, "endpoint_id", "state", "attempts", "step"]
    await conn.execute(insert(M).from_select(columns, source), rows)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    endpoint_id: uuid.UUID
    app_id: uuid.UUID
    body: str
    attempts: int
    step: int


async def claim(
    conn: AsyncConnection,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    busy: Sequence[uuid.UUID] = (),
) -> list[Claimed]:
    """Lease up to `limit` due messages of enabled endpoints (none of `busy`) until `until`.

    The lease is `next_at` itself: a dispatcher that dies holding one leaves it due again
    when the lease runs out, for any other to take. `SKIP LOCKED` lets any number of
    dispatchers claim side by side on PostgreSQL; SQLite serialises writers anyway.
    """
    enabled = select(E.id).where(E.enabled.is_(True))
    due = (
        select(M.id)
        .where(M.state == MessageState.PENDING, M.next_at <= now, M.endpoint_id.in_(enabled))
        .order_by(M.next_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if busy:
        due = due.where(M.endpoint_id.not_in(list(busy)))
    stmt = (
        update(M)
        .where(M.id.in_(due.scalar_subquery()))
        .values(next_at=until, lease_owner=owner)
        .returning(M.id, M.endpoint_id, M.app_id, M.body, M.attempts, M.step)
    )
    return [Claimed(*r) for r in await conn.execute(stmt)]


async def release(conn: AsyncConnection, owner: str, ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Hand back claimed messages unsent (their endpoint's slots are full): due again now."""
    stmt = update(M).where(M.id.in_(list(ids)), M.lease_owner == owner).values(next_at=now, lease_owner=None)
    await conn.execute(stmt)


@dataclass(frozen=True, slots=True)
class Sealed:
    """Where to post a message and what to sign it with, as stored."""

    url: str
    secret: str
    previous: str | None
    previous_until: datetime | None


async def targets(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Sealed]:
    stmt = select(E.id, E.url, E.sealed_secret, E.sealed_previous, E.previous_until).where(E.id.in_(list(ids)))
    return {r[0]: Sealed(r[1], r[2], r[3], r[4]) for r in await conn.execute(stmt)}


async def settle(conn: AsyncConnection, owner: str, message_id: uuid.UUID, values: dict[str, Any]) -> bool:
    """Write an attempt's verdict on its message, if this dispatcher still holds its lease."""
    stmt = (
        update(M)
        .where(M.id == message_id, M.lease_owner == owner, M.state == MessageState.PENDING)
        .values(lease_owner=None, **values)
    )
    return bool((await conn.execute(stmt)).rowcount)


async def message_exists(conn: AsyncConnection, message_id: uuid.UUID) -> bool:
    return (await conn.scalar(select(M.id).where(M.id == message_id))) is not None


async def log_attempt(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(WebhookAttempt).values(**row))


async def mark_failing(conn: AsyncConnection, endpoint_id: uuid.UUID, now: datetime) -> tuple[datetime, bool] | None:
    """Start (or go on with) the endpoint's run of failures: since when, and whether it is enabled."""
    stmt = (
        update(E)
        .where(E.id == endpoint_id)
        .values(failing_since=func.coalesce(E.failing_since, literal(now, UtcDateTime())))
        .returning(E.failing_since, E.enabled)
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else (row[0] or now, row[1])


async def mark_succeeding(conn: AsyncConnection, endpoint_id: uuid.UUID) -> None:
    stmt = update(E).where(E.id == endpoint_id, E.failing_since.is_not(None)).values(failing_since=None)
    await conn.execute(stmt)


async def disable(conn: AsyncConnection, endpoint_id: uuid.UUID, reason: str, now: datetime) -> bool:
    stmt = (
        update(E)
        .where(E.id == endpoint_id, E.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason[:200], disabled_at=now, updated_at=now)
    )
    return bool((await conn.execute(stmt)).rowcount)


async def requeue(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    now: datetime,
    *,
    message_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Make messages due again from the foot of the ladder, keeping their ids (receivers
    dedupe by webhook-id); their attempt count, and so the log, goes on."""
    stmt = update(M).where(M.endpoint_id == endpoint_id)
    if message_id is not None:
        stmt = stmt.where(M.id == message_id)
    if since is not None and until is not None:
        stmt = stmt.where(M.created_at >= since, M.created_at < until)
    stmt = stmt.values(state=MessageState.PENDING, step=0, next_at=now, lease_owner=None, finished_at=None)
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def messages(
    session: AsyncSession, endpoint_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> list[WebhookMessage]:
    stmt = select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id)
    if before is not None:
        stmt = stmt.where(WebhookMessage.id < before)
    return list((await session.scalars(stmt.order_by(WebhookMessage.id.desc()).limit(limit))).all())


async def attempts(
    session: AsyncSession, endpoint_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> list[WebhookAttempt]:
    stmt = select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint_id)
    if before is not None:
        stmt = stmt.where(WebhookAttempt.id < before)
    return list((await session.scalars(stmt.order_by(WebhookAttempt.id.desc()).limit(limit))).all())
