"""Every SQL statement of monitoring: the log's counts by state, and the reports' rows.

The counts read only the partial indexes of the states that can still move (`queued` and
`scheduled`, `sending`: migration 0003) and of dead letters (0015), never the history. Their
states are written inline, not bound: a partial index serves a query only where the planner
can see that the query's predicate implies the index's, which a bound value hides from
SQLite's planner always and from PostgreSQL's under a prepared statement's generic plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Delete, Select, case, delete, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.kit.clock import as_utc
from herald.kit.db import upsert_insert
from herald.monitoring.models import ChannelMinute, ProviderBeat
from herald.notifications.models import Delivery, DeliveryState


def _states(*states: DeliveryState) -> ColumnElement[bool]:
    inline: list[ColumnElement[str]] = [literal_column(f"'{s.value}'") for s in states]
    return Delivery.state == inline[0] if len(inline) == 1 else Delivery.state.in_(inline)


@dataclass
class LogCounts:
    """A channel's deliveries by queue state, as the log has them."""

    ready: int = 0
    retrying: int = 0
    scheduled: int = 0
    in_flight: int = 0
    dead: int = 0
    oldest_ready: datetime | None = None


def waiting(now: datetime) -> Select[str, str, int, Any, datetime]:
    """Per channel and state (`queued`, `scheduled`): how many, how many due, the earliest due.

    The earliest `queued` one is the oldest ready delivery when it is due. One scan of the
    claim index (state, channel, available_at), never of the table's history.
    """
    due = func.sum(case((Delivery.available_at <= now, 1), else_=0))
    return (
        select(Delivery.channel, Delivery.state, func.count(), due, func.min(Delivery.available_at))
        .where(_states(DeliveryState.QUEUED, DeliveryState.SCHEDULED))
        .group_by(Delivery.channel, Delivery.state)
    )


def in_state(state: DeliveryState) -> Select[str, int]:
    """Per channel: how many deliveries are in `state` (`sending` or `dead`, each partially indexed)."""
    return select(Delivery.channel, func.count()).where(_states(state)).group_by(Delivery.channel)


async def log_counts(session: AsyncSession, now: datetime) -> dict[str, LogCounts]:
    counts: dict[str, LogCounts] = {}
    for channel, state, n, due, earliest in (await session.execute(waiting(now))).all():
        c = counts.setdefault(channel, LogCounts())
        if state == DeliveryState.SCHEDULED:
            c.scheduled += n
            continue
        c.ready, c.retrying = int(due or 0), n - int(due or 0)
        if c.ready:
            c.oldest_ready = as_utc(earliest)
    for channel, n in (await session.execute(in_state(DeliveryState.SENDING))).all():
        counts.setdefault(channel, LogCounts()).in_flight = n
    for channel, n in (await session.execute(in_state(DeliveryState.DEAD))).all():
        counts.setdefault(channel, LogCounts()).dead = n
    return counts


async def save_beats(conn: AsyncConnection, rows: Sequence[dict[str, object]]) -> None:
    """Write one process's breaker reports over its previous ones."""
    if not rows:
        return
    stmt = upsert_insert(conn, ProviderBeat).values(list(rows))
    keep = ("state", "calls", "failures", "reported_at")
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["reporter", "scope", "provider"], set_={k: stmt.excluded[k] for k in keep}
        )
    )


async def save_minutes(conn: AsyncConnection, rows: Sequence[dict[str, object]]) -> None:
    """Write one process's minutes over its previous versions of them (a minute's totals so far)."""
    if not rows:
        return
    stmt = upsert_insert(conn, ChannelMinute).values(list(rows))
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["reporter", "channel", "minute"],
            set_={"sent": stmt.excluded.sent, "latency": stmt.excluded.latency},
        )
    )


def beats_since(since: datetime) -> Select[ProviderBeat]:
    return select(ProviderBeat).where(ProviderBeat.reported_at >= since)


def minutes_since(since: datetime) -> Select[ChannelMinute]:
    return select(ChannelMinute).where(ChannelMinute.minute >= since)


def forget_reporter(reporter: str) -> Delete:
    """A process that stops takes its breakers' reports with it (its minutes stay history)."""
    return delete(ProviderBeat).where(ProviderBeat.reporter == reporter)


def prune(beats_before: datetime, minutes_before: datetime) -> list[Delete]:
    """Reports of processes long gone, and minutes older than the history kept."""
    return [
        delete(ProviderBeat).where(ProviderBeat.reported_at < beats_before),
        delete(ChannelMinute).where(ChannelMinute.minute < minutes_before),
    ]
