"""The rollups' consumer of delivery events: new events in, counter increments staged, in the
same transaction as the events themselves (so the counters are exactly what the log committed,
once `folding` has added them to the rollups: within a second, and before any read).

What each new event counts (`Recorded` only ever holds events recorded for the first time):
- accepted, sent, failed, dead: one each;
- delivered, undelivered, bounced (hard; a bounce whose code is "soft" may still be delivered
  and is not counted), complained: only when the event moved the delivery's outcome up its
  ladder. The ladder never goes down, so a verdict repeated under another id, or a "delivered"
  after a "bounced", counts nothing; a delivery is counted once as complained however many
  complaints its provider reports;
- opened, clicked: the total one for each new event, the unique one for the delivery's first;
- unsubscribed: the delivery's first only.

Each event counts in the hour (and day, and month) its delivery was accepted, whenever it arrives,
under its template, the template version the delivery recorded at intake (`models.version_key`),
its channel and its provider. The version comes with the event's target, from rows the writer
holds anyway (the intake's plan, the worker's claimed delivery, the callbacks' locked delivery):
no query per delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from herald.analytics import repository
from herald.analytics.models import COUNTERS, version_key
from herald.analytics.repository import Increments, Key
from herald.events.kinds import SOFT, EventKind
from herald.events.repository import Target
from herald.events.service import Recorded

_INDEX = {name: i for i, name in enumerate(COUNTERS)}
_ALWAYS: dict[str, str] = {
    EventKind.ACCEPTED: "accepted",
    EventKind.SENT: "sent",
    EventKind.FAILED: "failed",
    EventKind.DEAD: "dead",
}
_VERDICTS: dict[str, str] = {
    EventKind.DELIVERED: "delivered",
    EventKind.UNDELIVERED: "undelivered",
    EventKind.BOUNCED: "bounced",
    EventKind.COMPLAINED: "complained",
}
_ENGAGEMENT: dict[str, tuple[str, str]] = {
    EventKind.OPENED: ("opened", "opened_unique"),
    EventKind.CLICKED: ("clicked", "clicked_unique"),
}


def counted(r: Recorded) -> tuple[str, ...]:
    """The counters one new event adds one to."""
    kind = r.event.kind
    if kind in _ALWAYS:
        return (_ALWAYS[kind],)
    if kind in _VERDICTS:
        if not r.outcome_changed or (kind == EventKind.BOUNCED and r.event.code == SOFT):
            return ()
        return (_VERDICTS[kind],)
    if kind in _ENGAGEMENT:
        total, unique = _ENGAGEMENT[kind]
        return (total, unique) if r.first_of_kind else (total,)
    if kind == EventKind.UNSUBSCRIBED and r.first_of_kind:
        return ("unsubscribed",)
    return ()


def increments(events: Sequence[Recorded]) -> Increments:
    """The batch's increments per hourly key (a key appears once)."""
    hourly: Increments = {}
    for r in events:
        names = counted(r)
        if not names:
            continue
        t = r.target
        at = t.created_at.astimezone(UTC)
        key: Key = (
            t.app_id,
            at.replace(minute=0, second=0, microsecond=0),
            t.template or "",
            version_key(t.template, t.template_version),
            t.channel,
            t.provider or "",
        )
        _count(hourly, key, names)
    return hourly


def _count(hourly: Increments, key: Key, names: Iterable[str]) -> None:
    row = hourly.get(key)
    if row is None:
        row = hourly[key] = [0] * len(COUNTERS)
    for name in names:
        row[_INDEX[name]] += 1


# A milestone to fold: (delivery id, app id, accepted at, template, template version, channel,
# provider, counter).
Milestone = tuple[uuid.UUID, uuid.UUID, datetime, str | None, int | None, str, str | None, str]


def fold_targets(milestones: Iterable[tuple[str, Target]]) -> dict[str, list[Any]]:
    """The parameters of `repository.fold_ctes` for Herald's own milestones, given as (kind,
    delivery target) pairs: a row per milestone, keyed like `increments`, for the statement to
    count those it really wrote. The recorder's hot path builds no event object for them."""
    return fold_arrays(
        (t.delivery_id, t.app_id, t.created_at, t.template, t.template_version, t.channel, t.provider, _ALWAYS[kind])
        for kind, t in milestones
    )


def fold_arrays(milestones: Iterable[Milestone]) -> dict[str, list[Any]]:
    """`fold_targets` from bare tuples: the intake's hot path builds no target objects either."""
    hours_of: dict[datetime, datetime] = {}  # a batch shares a few instants
    numbers: dict[tuple[Any, ...], int] = {}
    ids: list[uuid.UUID] = []
    refs: list[int] = []
    for delivery_id, app_id, created_at, template, version, channel, provider, counter in milestones:
        hour = hours_of.get(created_at)
        if hour is None:
            hour = hours_of[created_at] = created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        key = (app_id, hour, template or "", version_key(template, version), channel, provider or "", counter)
        n = numbers.get(key)
        if n is None:
            n = numbers[key] = len(numbers) + 1
        ids.append(delivery_id)
        refs.append(n)
    columns: list[list[Any]] = [list(c) for c in zip(*numbers, strict=True)] or [[] for _ in repository.FOLD_KEY_NAMES]
    out = {f"k_{name}": column for name, column in zip(repository.FOLD_KEY_NAMES, columns, strict=True)}
    return out | {"m_id": ids, "m_key": refs}


class Rollups:
    """An `events.service.Consumer`: hand it to the EventLog, the intake and the recorder.

    On PostgreSQL the intake and the recorder count Herald's own milestones (accepted, sent,
    failed, dead) in their own statement instead (`repository.fold_ctes`) when no other
    consumer has anything to write for them (`EventLog.foldable`)."""

    folds_into_statement = True

    async def recorded(self, conn: AsyncConnection, events: Sequence[Recorded]) -> None:
        await repository.stage(conn, increments(events))


async def stage_folded(conn: AsyncConnection, params: dict[str, Any], written: Collection[uuid.UUID]) -> None:
    """`repository.fold_ctes` where one statement cannot hold it (SQLite, or a transaction that
    writes more): the same parameters (`fold_targets`, `fold_arrays`), the milestones of the
    deliveries in `written` counted here and staged. No event objects are built for them, as
    on PostgreSQL."""
    keys = list(zip(*(params[f"k_{name}"] for name in repository.FOLD_KEY_NAMES), strict=True))
    hourly: Increments = {}
    for delivery_id, number in zip(params["m_id"], params["m_key"], strict=True):
        if delivery_id in written:
            *key, counter = keys[number - 1]
            _count(hourly, tuple(key), (counter,))
    await repository.stage(conn, hourly)
