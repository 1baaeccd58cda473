"""Inspecting and replaying dead letters: deliveries that ran out of attempts or age."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select

from herald.deadletters import repository
from herald.deadletters.schemas import DeadLetterOut, ReplayFilter
from herald.kit.channels import Channel
from herald.kit.errors import NotFound, ValidationFailed
from herald.kit.uow import UnitOfWork
from herald.notifications import repository as log
from herald.notifications.models import Attempt, Delivery, DeliveryState, Notification
from herald.notifications.schemas import AttemptOut
from herald.queue.announce import announce
from herald.queue.outbox import Outbox
from herald.queue.transport import Broker


class DeadLetterNotFound(NotFound):
    """The dead letter does not exist."""

    code = "dead_letter_not_found"


def present(d: Delivery, n: Notification, attempts: list[Attempt] | None = None) -> DeadLetterOut:
    return DeadLetterOut(
        id=d.id,
        notification_id=n.id,
        event_id=n.event_id,
        channel=Channel(d.channel),
        reason=d.reason,
        attempts=d.attempts,
        replays=d.replays,
        provider=d.provider,
        created_at=d.created_at,
        finished_at=d.finished_at,
        attempt_log=None if attempts is None else [AttemptOut.model_validate(a) for a in attempts],
    )


async def list_page(
    uow: UnitOfWork,
    app_id: uuid.UUID | None,
    *,
    channel: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    cursor: uuid.UUID | None = None,
    limit: int = 50,
    provider: str | None = None,
    until: datetime | None = None,
) -> tuple[list[DeadLetterOut], uuid.UUID | None]:
    stmt = repository.page(
        app_id,
        channel=channel,
        reason=reason,
        since=since,
        before=cursor,
        limit=limit + 1,
        provider=provider,
        until=until,
    )
    rows = (await uow.session.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [present(d, n) for d, n in rows], (rows[-1][0].id if more and rows else None)


async def inspect(uow: UnitOfWork, app_id: uuid.UUID | None, delivery_id: uuid.UUID) -> DeadLetterOut:
    """One dead letter with every attempt; `app_id` None is the operator's view across apps."""
    stmt = (
        select(Delivery, Notification)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.DEAD)
    )
    if app_id is not None:
        stmt = stmt.where(Delivery.app_id == app_id)
    row = (await uow.session.execute(stmt)).first()
    if row is None:
        raise DeadLetterNotFound()
    attempts = (await log.attempts_of(uow.session, [delivery_id]))[delivery_id]
    return present(row[0], row[1], attempts)


async def replay(
    uow: UnitOfWork, broker: Broker, outbox: Outbox | None, app_id: uuid.UUID | None, ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Replay these deliveries if they are (still) dead; announce them durably."""
    if app_id is not None and ids:
        owned = await uow.session.scalars(select(Delivery.id).where(Delivery.id.in_(ids), Delivery.app_id == app_id))
        ids = list(owned.all())
    revived = await repository.revive(uow.session, ids)
    await announce(uow, broker, outbox, revived)
    return [i for i, _ in revived]


def _matching(app_id: uuid.UUID | None, f: ReplayFilter) -> Select[Delivery, Notification]:
    if f.ids is None and not (f.channel or f.reason or f.provider or f.since or f.until):
        raise ValidationFailed(
            "say which dead letters to replay: ids, channel, reason, provider, since or until", field="channel"
        )
    stmt = repository.page(
        app_id,
        channel=f.channel.value if f.channel else None,
        reason=f.reason,
        since=f.since,
        before=None,
        limit=f.limit,
        provider=f.provider,
        until=f.until,
    )
    return stmt if f.ids is None else stmt.where(Delivery.id.in_(f.ids))


async def count_matching(uow: UnitOfWork, app_id: uuid.UUID | None, f: ReplayFilter) -> int:
    """How many dead letters `replay_matching` would take now (at most `f.limit`): what a
    confirmation shows before anything is replayed."""
    matching = _matching(app_id, f).with_only_columns(Delivery.id).subquery()
    return int(await uow.session.scalar(select(func.count()).select_from(matching)) or 0)


async def replay_matching(
    uow: UnitOfWork, broker: Broker, outbox: Outbox | None, app_id: uuid.UUID | None, f: ReplayFilter
) -> list[uuid.UUID]:
    ids = [d.id for d, _ in (await uow.session.execute(_matching(app_id, f))).all()]
    return await replay(uow, broker, outbox, app_id, ids)
