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
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from herald.events import repository
from herald.events.kinds import ENGAGEMENT, OUTCOME_RANK, outcome_of
from herald.events.repository import Target
from herald.kit.clock import utcnow
from herald.kit.ids import uuid7
from herald.kit.uow import UnitOfWork
from herald.recipients.repository import suppress

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
        # The one consumer (the rollups) whose writes for Herald's own milestones a writer on
        # PostgreSQL may fold into its own statement; the others must then be `quiet`.
        folding = [c for c in self.consumers if getattr(c, "folds_into_statement", False)]
        self._folding = len(folding) == 1

    async def foldable(self, keys: Collection[tuple[uuid.UUID, str]]) -> bool:
        """Whether, for Herald's own milestones of these (app id, kind) pairs, every consumer's
        writes are the rollups' counts alone: then the intake and the recorder count them
        without publishing them (no event objects), on PostgreSQL in their own single statement
        (`analytics.repository.fold_ctes`, without BEGIN and COMMIT), else in their transaction
        (`analytics.consumer.stage_folded`). A consumer says so by a `quiet` method (the
        webhooks: no endpoint wants these); one that cannot never lets it fold."""
        if not self._folding:
            return False
        for c in self.consumers:
            if getattr(c, "folds_into_statement", False):
                continue
            quiet = getattr(c, "quiet", None)
            if quiet is None or not await quiet(keys):
                return False
        return True

    async def record(self, uow: UnitOfWork, events: Sequence[Incoming], *, app_id: uuid.UUID | None = None) -> Summary:
        """Record `events` (only deliveries of `app_id` when it is given: an app's own
        account speaks for that app's deliveries alone), a whole batch in a few statements."""
        summary = Summary()
        conn = await uow.session.connection()
        found, outcomes = await repository.targets(conn, [e.delivery_id for e in events])
        fresh: dict[tuple[uuid.UUID, str], tuple[Incoming, Target]] = {}
        for e in events:
            target = found.get(e.delivery_id)
            if target is None or (app_id is not None and target.app_id != app_id):
                summary.unknown += 1
                log.info("%s %s for an unknown delivery %s: acknowledged", e.source, e.kind, e.delivery_id)
            elif fresh.setdefault((e.delivery_id, e.dedupe[:200]), (e, target))[0] is not e:
                summary.duplicates += 1  # twice in this very batch
        if not fresh:
            return summary
        new = await repository.insert_events(conn, [_row(e, t) for e, t in fresh.values()])
        summary.duplicates += len(fresh) - len(new)
        accepted = [(e, t) for key, (e, t) in fresh.items() if key in new]
        # In time order, so that of two verdicts of one rank the earlier stands.
        accepted.sort(key=lambda pair: pair[0].occurred_at)
        movers: set[int] = set()
        changed = _advance(accepted, outcomes, movers)
        await repository.advance_outcomes(conn, [changed[k] for k in sorted(changed)])
        firsts = await self._engage(conn, accepted)
        await suppress(conn, _suppressions(accepted))
        summary.recorded = [Recorded(e, t, id(e) in movers, id(e) in firsts) for e, t in accepted]
        await self.publish(conn, summary.recorded)
        return summary

    async def _engage(self, conn: AsyncConnection, accepted: list[tuple[Incoming, Target]]) -> set[int]:
        """Count engagement; the ids of the events that are their delivery's first of a kind."""
        added: dict[tuple[uuid.UUID, str], list[Incoming]] = {}
        apps: dict[uuid.UUID, uuid.UUID] = {}
        for e, t in accepted:
            if e.kind in ENGAGEMENT:
                added.setdefault((e.delivery_id, e.kind), []).append(e)
                apps[e.delivery_id] = t.app_id
        rows = [
            {
                "delivery_id": d,
                "kind": kind,
                "app_id": apps[d],
                "first_at": min(e.occurred_at for e in es),
                "last_at": max(e.occurred_at for e in es),
                "count": len(es),
            }
            for (d, kind), es in sorted(added.items())
        ]
        counts = await repository.engage(conn, rows)
        # A summary whose count is what this batch added was new with it: its earliest event
        # is the delivery's first (unique) one of that kind.
        return {id(min(es, key=lambda e: e.occurred_at)) for key, es in added.items() if counts.get(key) == len(es)}

    async def publish(self, conn: AsyncConnection, recorded: Sequence[Recorded]) -> None:
        """Hand new events to every consumer, inside the caller's transaction."""
        if recorded:
            for consumer in self.consumers:
                await consumer.recorded(conn, recorded)


def _row(e: Incoming, t: Target) -> dict[str, object]:
    return {
        "id": uuid7(),
        "app_id": t.app_id,
        "delivery_id": e.delivery_id,
        "kind": e.kind,
        "source": e.source[:32],
        "code": e.code[:64] if e.code else None,
        "detail": e.detail,
        "occurred_at": e.occurred_at,
        "recorded_at": utcnow(),
        "dedupe": e.dedupe[:200],
    }


def _advance(
    accepted: list[tuple[Incoming, Target]], outcomes: dict[uuid.UUID, str | None], movers: set[int]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Per delivery, the verdict its outcome ends on, if any moves it up the ladder (the
    rows are locked, so what was read is what is there); `movers` gets the id of every
    event that moved it, in time order, even one a later event of the batch passed."""
    moves: dict[uuid.UUID, dict[str, Any]] = {}
    current = dict(outcomes)
    for e, _ in accepted:
        outcome = outcome_of(e.kind, e.code)
        if outcome is None:
            continue
        now = current.get(e.delivery_id)
        if OUTCOME_RANK[outcome] > (OUTCOME_RANK.get(now, 0) if now else 0):
            current[e.delivery_id] = outcome
            movers.add(id(e))
            moves[e.delivery_id] = {
                "d_id": e.delivery_id,
                "d_rank": OUTCOME_RANK[outcome],
                "d_outcome": outcome,
                "d_code": e.code[:64] if e.code else None,
                "d_at": e.occurred_at,
            }
    return moves


def _suppressions(accepted: list[tuple[Incoming, Target]]) -> list[dict[str, object]]:
    rows: dict[tuple[uuid.UUID, str, str], dict[str, object]] = {}
    for e, t in accepted:
        if e.suppress and e.address:
            rows.setdefault(
                (t.app_id, t.channel, e.address),
                {
                    "app_id": t.app_id,
                    "channel": t.channel,
                    "address": e.address,
                    "reason": f"{e.source}:{e.code or e.kind}"[:200],
                    "created_at": e.occurred_at,
                },
            )
    return list(rows.values())


def lifecycle(kind: str, target: Target, at: datetime, code: str | None = None) -> Recorded:
    """One of Herald's own milestones (accepted, sent, failed, dead) for the consumers.

    These are not written to `delivery_events`: the notification row and the attempts
    already hold them, and the timeline is read from both. Each is published once, by the
    write that made it true (the intake's insert, the recorder's guarded update).
    """
    return Recorded(Incoming(target.delivery_id, kind, "herald", at, kind, code), target, False, False)
