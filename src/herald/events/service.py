"""Recording delivery events: once each, in any order, with their effects.

A provider retries its webhooks and reorders them, a pixel loads twice, a user clicks again:
each event is written to the delivery's timeline once (by its dedupe value), a verdict moves
the delivery's outcome only up its ladder (a late "sent" after "delivered" changes nothing),
and only a new event has effects: a suppression for a dead address, and whatever the
consumers (the outbound webhooks, the rollups) make of it, in the same unit of work, so what
they count is what the log holds. An event for a delivery Herald does not know is counted
and logged, never an error: the provider will not stop sending it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from herald.events import repository
from herald.events.kinds import ENGAGEMENT, outcome_of
from herald.events.repository import Target
from herald.kit.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One event about one delivery, as its source reported it."""

    delivery_id: uuid.UUID
    kind: str
    source: str
    occurred_at: datetime
    # What makes the event itself unique (a provider's event id, or its kind and time).
    dedupe: str
    code: str | None = None
    detail: str | None = None
    # The address the source reports, and whether the event says it is dead (a hard bounce,
    # a complaint, a carrier's "unreachable for good"): it is then suppressed for the app.
    address: str | None = None
    suppress: bool = False


@dataclass(frozen=True, slots=True)
class Recorded:
    """A new event, with its delivery, and what it changed there."""

    event: Incoming
    target: Target
    outcome_changed: bool  # the delivery's outcome moved to this event's verdict
    first_of_kind: bool  # engagement: the delivery's first of this kind (a unique open, click...)


@dataclass(slots=True)
class Summary:
    recorded: list[Recorded] = field(default_factory=list)
    duplicates: int = 0
    unknown: int = 0


class Consumer(Protocol):
    """What follows new events in the same transaction (webhooks out, rollups).

    It is handed the connection of the transaction that wrote the events: the intake's
    `accepted`, the recorder's `sent`/`failed`/`dead` and the callbacks' verdicts and
    engagement all come this way, so what a consumer counts is exactly what committed.
    """

    async def recorded(self, conn: AsyncConnection, events: Sequence[Recorded]) -> None: ...


class EventLog:
    def __init__(self, consumers: Sequence[Consumer] = ()) -> None:
        self.consumers = list(consumers)

    async def record(self, uow: UnitOfWork, events: Sequence[Incoming], *, app_id: uuid.UUID | None = None) -> Summary:
        """Record `events` (only deliveries of `app_id` when it is given: an app's own
        account speaks for that app's deliveries alone)."""
        summary = Summary()
        found = await repository.targets(uow.session, [e.delivery_id for e in events])
        for event in events:
            target = found.get(event.delivery_id)
            if target is None or (app_id is not None and target.app_id != app_id):
                summary.unknown += 1
                log.info("%s %s for an unknown delivery %s: acknowledged", event.source, event.kind, event.delivery_id)
                continue
            recorded = await self._one(uow, event, target)
            if recorded is None:
                summary.duplicates += 1
            else:
                summary.recorded.append(recorded)
        await self.publish(await uow.session.connection(), summary.recorded)
        return summary

    async def publish(self, conn: AsyncConnection, recorded: Sequence[Recorded]) -> None:
        """Hand new events to every consumer, inside the caller's transaction."""
        if recorded:
            for consumer in self.consumers:
                await consumer.recorded(conn, recorded)

    async def _one(self, uow: UnitOfWork, e: Incoming, target: Target) -> Recorded | None:
        session = uow.session
        row = {
            "app_id": target.app_id,
            "delivery_id": e.delivery_id,
            "kind": e.kind,
            "source": e.source[:32],
            "code": e.code[:64] if e.code else None,
            "detail": e.detail,
            "occurred_at": e.occurred_at,
            "dedupe": e.dedupe[:200],
        }
        if not await repository.insert_event(session, row):
            return None
        outcome = outcome_of(e.kind, e.code)
        changed = outcome is not None and await repository.advance_outcome(
            session, e.delivery_id, outcome, e.code, e.occurred_at
        )
        first = e.kind in ENGAGEMENT and await repository.engage(
            session, target.app_id, e.delivery_id, e.kind, e.occurred_at
        )
        if e.suppress and e.address:
            await repository.suppress(
                session, target.app_id, target.channel, e.address, f"{e.source}:{e.code or e.kind}", e.occurred_at
            )
        return Recorded(e, target, changed, first)
