"""The rollups' consumer of delivery events: new events in, counter increments out, in the same
transaction as the events themselves (so the counters are exactly what the log committed).

What each new event counts (`Recorded` only ever holds events recorded for the first time):
- accepted, sent, failed, dead: one each;
- delivered, undelivered, bounced (hard; a bounce whose code is "soft" may still be delivered
  and is not counted), complained: only when the event moved the delivery's outcome up its
  ladder. The ladder never goes down, so a verdict repeated under another id, or a "delivered"
  after a "bounced", counts nothing; a delivery is counted once as complained however many
  complaints its provider reports;
- opened, clicked: the total one for each new event, the unique one for the delivery's first;
- unsubscribed: the delivery's first only.

Each event counts in the hour (and day) its delivery was accepted, whenever it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncConnection

from herald.analytics import repository
from herald.analytics.models import COUNTERS
from herald.analytics.repository import Increments, Key
from herald.events.kinds import SOFT, EventKind
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


def increments(events: Sequence[Recorded]) -> tuple[Increments, Increments]:
    """The batch's increments per hourly key and per daily key (a key appears once in each)."""
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
            "",  # the template's version, once templates have versions
            t.channel,
            t.provider or "",
        )
        row = hourly.get(key)
        if row is None:
            row = hourly[key] = [0] * len(COUNTERS)
        for name in names:
            row[_INDEX[name]] += 1
    daily: Increments = {}
    for (app_id, hour, *dims), counts in hourly.items():
        day_key: Key = (app_id, hour.date(), *dims)
        row = daily.get(day_key)
        if row is None:
            daily[day_key] = list(counts)
        else:
            for i, n in enumerate(counts):
                row[i] += n
    return hourly, daily


class Rollups:
    """An `events.service.Consumer`: hand it to the EventLog, the intake and the recorder."""

    async def recorded(self, conn: AsyncConnection, events: Sequence[Recorded]) -> None:
        hourly, daily = increments(events)
        await repository.add(conn, hourly, daily)
