"""The rollups' SQL on the hot path and on the way out: increments staged (appended to
`analytics_pending`, see `models.PendingIncrement` for why), and the sums read back. The
statements that fold staged rows into the tables are in `folding`.

The increments are staged inside the transaction that recorded the events: within the intake's
or the recorder's own statement on PostgreSQL (`fold_ctes`), or one insert per batch of a
consumer's events (`stage`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, func, insert, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.analytics.models import (
    COUNTERS,
    DIMENSIONS,
    DailyLevel,
    DailyRollup,
    HourlyLevel,
    HourlyRollup,
    MonthlyLevel,
    MonthlyRollup,
    PendingIncrement,
    RollupModel,
    level_of,
    version_key,
)
from herald.kit.bulk import Bulk
from herald.kit.db import unnest_arrays

# A key: (app_id, bucket, template, template_version, channel, provider). The bucket is a datetime
# (an hour) or a date (a day, a month's first).
Key = tuple[Any, ...]
# Increments by hourly key (the day's and month's follow from the hour when they are folded).
Increments = dict[Key, list[int]]
# A key's columns in the staging table.
_STAGED = ("app_id", "hour", *DIMENSIONS)
_STAGE = Bulk(insert(PendingIncrement), (*_STAGED, *COUNTERS))
_PENDING = PendingIncrement.__tablename__


@dataclass(frozen=True, slots=True)
class Table:
    model: RollupModel
    bucket: str  # the bucket's column: hour, day or month
    leveled: bool = False  # a table of the coarser levels (`models.LEVELS`), keyed by the level first

    @property
    def name(self) -> str:
        return str(self.model.__tablename__)

    @property
    def keys(self) -> tuple[str, ...]:
        return ("app_id", "level", self.bucket, *DIMENSIONS) if self.leveled else ("app_id", self.bucket, *DIMENSIONS)


# Every table, in the order folders write them (the same for every folder: see `folding`).
TABLES: dict[str, Table] = {
    "hourly": Table(HourlyRollup, "hour"),
    "daily": Table(DailyRollup, "day"),
    "monthly": Table(MonthlyRollup, "month"),
    "hourly_levels": Table(HourlyLevel, "hour", leveled=True),
    "daily_levels": Table(DailyLevel, "day", leveled=True),
    "monthly_levels": Table(MonthlyLevel, "month", leveled=True),
}


# What a folded statement counts (`fold_ctes`): each milestone's delivery and the number of its
# key (from 1), and each distinct key once, so a batch's values are encoded per key, not per
# delivery (a recorder batch of 500 deliveries has a few keys).
_FOLD_KEY_COLUMNS: tuple[tuple[str, str], ...] = (
    *(("app_id", "uuid"), ("hour", "timestamptz")),
    *(("template", "text"), ("template_version", "text"), ("channel", "text"), ("provider", "text")),
    ("counter", "text"),
)
FOLD_KEY_NAMES = tuple(name for name, _ in _FOLD_KEY_COLUMNS)
_FOLD_MILESTONE_COLUMNS = (("id", "uuid"), ("key", "int"))


def fold_ctes(source: str) -> str:
    """Data-modifying CTEs (to follow others in a WITH) that stage Herald's own milestones for
    the rollups, counting only the rows whose delivery id the CTE `source` returns: the
    deliveries the statement itself inserted or updated, so a stale result or a notification
    that lost its dedup race counts nothing. Parameters: `consumer.fold_targets`. On PostgreSQL this is
    how the intake and the recorder stay one statement when no webhook message is owed."""
    key_arrays = unnest_arrays(_FOLD_KEY_COLUMNS, "k_")
    counts = ", ".join(f"count(*) FILTER (WHERE counter = '{c}')" if c in FOLDED else "0" for c in COUNTERS)
    keys = "app_id, hour, " + ", ".join(DIMENSIONS)
    rows = (
        f"fold_rows AS (SELECT k.* FROM unnest({unnest_arrays(_FOLD_MILESTONE_COLUMNS, 'm_')}) AS v(id, key)"  # noqa: S608
        f" JOIN unnest({key_arrays}) WITH ORDINALITY AS k({', '.join(FOLD_KEY_NAMES)}, n) ON k.n = v.key"
        f" WHERE v.id IN (SELECT id FROM {source}))"
    )
    staged = (
        f"fold_staged AS (INSERT INTO {_PENDING} ({keys}, {', '.join(COUNTERS)})"  # noqa: S608
        f" SELECT {keys}, {counts} FROM fold_rows GROUP BY {keys} RETURNING 1)"
    )
    return f"{rows}, {staged}"


# The counters a folded statement adds to: Herald's own milestones.
FOLDED = frozenset({"accepted", "sent", "failed", "dead"})


async def stage(conn: AsyncConnection, increments: Increments) -> None:
    """Stage the increments (one row per key) for the folder to add to the rollups."""
    await _STAGE.run(conn, [(*key, *counts) for key, counts in increments.items()])


@dataclass(frozen=True, slots=True)
class Filters:
    template: str | None = None
    # A version of `template` (numbers are per template: the service refuses one without it).
    template_version: int | None = None
    channel: str | None = None
    provider: str | None = None

    def values(self) -> dict[str, str]:
        """The dimensions filtered on, as the rows hold them."""
        out = {"template": self.template, "channel": self.channel, "provider": self.provider}
        if self.template_version is not None:
            out["template_version"] = version_key(self.template, self.template_version)
        return {name: value for name, value in out.items() if value is not None}


Grain = Literal["hour", "day", "month"]
# A part of a period read from one table: [start, end) on that table's buckets, added (+1) or
# taken away (-1): a ragged end may be read as its whole month (or day) less what lies outside.
Piece = tuple[Grain, datetime, datetime, Literal[1, -1]]
_BY_GRAIN = {(t.bucket, t.leveled): t for t in TABLES.values()}


def table(grain: str, *, leveled: bool = False) -> Table:
    """The table of `grain`'s buckets ("hour", "day" or "month"): the combinations', or the levels'."""
    return _BY_GRAIN[(grain, leveled)]


def _select(
    grain: Grain,
    a: datetime,
    b: datetime,
    sign: int,
    app_id: uuid.UUID,
    f: Filters,
    group: str | None,
    level: str | None,
) -> Select[Any]:
    t = table(grain, leveled=level is not None)
    c = t.model.__table__.c
    bucket = c[t.bucket]
    lo, hi = (a, b) if grain == "hour" else (a.date(), b.date())
    columns: list[Any] = [c[n] if sign > 0 else (-c[n]).label(n) for n in COUNTERS]
    if group is not None:
        columns.insert(0, c[group].label("k"))
    where = [c.app_id == app_id, bucket >= lo, bucket < hi, *(c[n] == v for n, v in f.values().items())]
    if level is not None:
        where.append(c.level == level)
    return select(*columns).where(*where)


def level_for(f: Filters, group: str | None) -> str | None:
    """The level whose rows answer a query filtered by `f` and grouped by `group` (a dimension
    or a bucket): the one that keeps exactly the dimensions it names; None: the combinations'."""
    named = set(f.values())
    if group in DIMENSIONS:
        named.add(group)
    return level_of(named)


async def sums(
    session: AsyncSession,
    app_id: uuid.UUID,
    pieces: Sequence[Piece],
    f: Filters,
    group: str | None = None,
    *,
    levels: bool = True,
) -> list[tuple[Any, list[int]]]:
    """The counters summed over the pieces of a period, per value of `group` (a dimension, or
    the pieces' bucket: "hour", "day" or "month"), or one total (key None) when `group` is None.
    From the level that keeps exactly the dimensions the query names (`level_for`), when there
    is one and `levels`; else from the combinations' rows (the two agree: the folder writes both).

    One statement (one snapshot, one round trip), so that a month less some of its days is read
    from rows committed together. A key whose counters all sum to zero had no row within the
    period (every row holds at least one count) and is left out, as if it had not been read."""
    if not pieces:
        return []
    level = level_for(f, group) if levels else None
    parts = [_select(g, a, b, sign, app_id, f, group, level) for g, a, b, sign in pieces]
    rows = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    totals = [func.coalesce(func.sum(rows.c[n]), 0) for n in COUNTERS]
    if group is None:
        return [(None, _counts((await session.execute(select(*totals))).one(), 0))]
    stmt = select(rows.c.k, *totals).group_by(rows.c.k)
    found = [(row[0], _counts(row, 1)) for row in (await session.execute(stmt)).all()]
    return [(k, counts) for k, counts in found if any(counts)]


def _counts(row: Sequence[Any], offset: int) -> list[int]:
    # PostgreSQL's sum of a bigint is a numeric (a Decimal in Python).
    return [int(v) for v in row[offset : offset + len(COUNTERS)]]
