"""Every SQL statement about rollups: the increments (one upsert per key and table), and the sums
read back.

The increments run inside the transaction that recorded the events, on the delivery hot path:
one statement per batch on PostgreSQL (the keys' increments unnested from arrays, every table's
rows together), an executemany per table on SQLite. Keys are written in sorted
order, so two transactions that touch the same rows lock them in the same order and cannot
deadlock each other.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, TextClause, func, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.analytics.models import (
    COUNTERS,
    DIMENSIONS,
    DailyRollup,
    HourlyRollup,
    MonthlyRollup,
    RollupModel,
    version_key,
)
from herald.kit.db import upsert_insert

# A key: (app_id, bucket, template, template_version, channel, provider). The bucket is a datetime
# (an hour) or a date (a day, a month's first).
Key = tuple[Any, ...]
# Each table's increments by key, the tables named as in TABLES.
Increments = dict[str, dict[Key, list[int]]]


@dataclass(frozen=True, slots=True)
class Table:
    model: RollupModel
    bucket: str  # the bucket's column: hour, day or month
    sql_type: str  # its PostgreSQL type, for the arrays of the upsert

    @property
    def name(self) -> str:
        return str(self.model.__tablename__)

    @property
    def keys(self) -> tuple[str, ...]:
        return ("app_id", self.bucket, *DIMENSIONS)


# Every table, in the order they are written in (the same for every writer: see above).
TABLES: dict[str, Table] = {
    "hourly": Table(HourlyRollup, "hour", "timestamptz"),
    "daily": Table(DailyRollup, "day", "date"),
    "monthly": Table(MonthlyRollup, "month", "date"),
}


# Where `_chained` puts an upsert's wait on the one before it.
_GUARD = " /*guard*/"


def _pg_upsert(t: Table, prefix: str) -> str:
    keys = ", ".join(t.keys)
    arrays = [f"CAST(:{prefix}app_id AS uuid[])", f"CAST(:{prefix}bucket AS {t.sql_type}[])"]
    arrays += [f"CAST(:{prefix}{d} AS text[])" for d in t.keys[2:]]
    arrays += [f"CAST(:{prefix}{c} AS bigint[])" for c in COUNTERS]
    sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)
    # Only this module's constant names go into the text; every value is a bound array.
    return (
        f"INSERT INTO {t.name} AS r ({keys}, {', '.join(COUNTERS)}) SELECT * FROM unnest({', '.join(arrays)}){_GUARD}"  # noqa: S608
        f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    )


def pg_upsert(names: Sequence[str]) -> TextClause:
    """The upsert of these tables' increments (parameters: `pg_params`) in one statement: every
    table but the last in a data-modifying CTE, the last in the main statement, each waiting on
    the one before (`_chained`), so with the sorted keys every writer's lock order is the same."""
    chain = _chained([(name, _pg_upsert(TABLES[name], name + "_")) for name in names])
    ctes = ", ".join(f"{name} AS ({part} RETURNING 1)" for name, part in chain[:-1])
    return text(f"WITH {ctes} {chain[-1][1]}" if ctes else chain[-1][1])


def _chained(parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each table's upsert made to wait on the one before it (a one-time filter over that
    upsert's CTE, which returns a row per row written), so every writer locks its hourly rows,
    then its daily ones, then its monthly ones, whatever order PostgreSQL runs the CTEs in: the
    recorder's and the intake's folded statements (`fold_ctes`) name them differently."""
    out = [parts[0]]
    for (before, _), (name, part) in itertools.pairwise(parts):
        # Only this module's constant names go into the text.
        out.append((name, part.replace(_GUARD, f" WHERE (SELECT count(*) FROM {before}) >= 0", 1)))  # noqa: S608
    return [(out[0][0], out[0][1].replace(_GUARD, "", 1)), *out[1:]]


# The milestone rows a folded statement may count (`fold_ctes`): one per delivery and counter.
_FOLD_COLUMNS: tuple[tuple[str, str], ...] = (
    *(("id", "uuid"), ("app_id", "uuid"), ("hour", "timestamptz"), ("day", "date"), ("month", "date")),
    *(("template", "text"), ("template_version", "text"), ("channel", "text"), ("provider", "text")),
    ("counter", "text"),
)
FOLD_NAMES = tuple(name for name, _ in _FOLD_COLUMNS)


def fold_ctes(source: str) -> str:
    """Data-modifying CTEs (to follow others in a WITH) that add Herald's own milestones to the
    rollups, counting only the rows whose delivery id the CTE `source` returns: the deliveries
    the statement itself inserted or updated, so a stale result or a notification that lost
    its dedup race counts nothing. Parameters: `fold_params`. On PostgreSQL this is how the
    intake and the recorder stay one statement when no webhook message is owed."""
    arrays = ", ".join(f"CAST(:m_{name} AS {sql}[])" for name, sql in _FOLD_COLUMNS)
    parts = []
    for name, t in TABLES.items():
        bucket = t.bucket
        # Sorted as `_arrays` sorts keys (text in code point order: COLLATE "C").
        group = f"app_id, {bucket}, {', '.join(DIMENSIONS)}"
        order = f"app_id, {bucket}, " + ", ".join(f'{d} COLLATE "C"' for d in DIMENSIONS)
        counts = ", ".join(f"count(*) FILTER (WHERE counter = '{c}')" if c in FOLDED else "0" for c in COUNTERS)
        sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS if c in FOLDED)
        parts.append(
            (
                f"fold_{name}",
                f"INSERT INTO {t.name} AS r ({', '.join(t.keys)}, {', '.join(COUNTERS)})"  # noqa: S608
                f" SELECT {', '.join(t.keys)}, {counts} FROM fold_rows{_GUARD}"
                f" GROUP BY {group} ORDER BY {order}"
                f" ON CONFLICT ({', '.join(t.keys)}) DO UPDATE SET {sets}",
            )
        )
    rows = (
        f"fold_rows AS (SELECT v.* FROM unnest({arrays}) AS v({', '.join(FOLD_NAMES)})"  # noqa: S608
        f" WHERE v.id IN (SELECT id FROM {source}))"
    )
    return ", ".join([rows, *(f"{name} AS ({part} RETURNING 1)" for name, part in _chained(parts))])


# The counters a folded statement adds to: Herald's own milestones.
FOLDED = frozenset({"accepted", "sent", "failed", "dead"})


def pg_params(increments: Increments, names: Sequence[str]) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {}
    for name in names:
        params |= _arrays(TABLES[name], increments[name], name + "_")
    return params


_UPSERT_PG = pg_upsert(list(TABLES))


def _sqlite_upsert(on: AsyncConnection, t: Table) -> Any:
    stmt = upsert_insert(on, t.model)
    c = t.model.__table__.c
    return stmt.on_conflict_do_update(
        index_elements=[c[k] for k in t.keys], set_={n: c[n] + stmt.excluded[n] for n in COUNTERS}
    )


def _arrays(t: Table, increments: dict[Key, list[int]], prefix: str) -> dict[str, list[Any]]:
    keys = sorted(increments)
    names = ("app_id", "bucket", *t.keys[2:])
    out: dict[str, list[Any]] = {prefix + name: [k[i] for k in keys] for i, name in enumerate(names)}
    for i, name in enumerate(COUNTERS):
        out[prefix + name] = [increments[k][i] for k in keys]
    return out


def _rows(t: Table, increments: dict[Key, list[int]]) -> list[dict[str, Any]]:
    return [
        dict(zip(t.keys, k, strict=True)) | dict(zip(COUNTERS, increments[k], strict=True)) for k in sorted(increments)
    ]


async def add(conn: AsyncConnection, increments: Increments) -> None:
    """Add the increments to their rows, creating those that do not exist yet."""
    if not increments.get("hourly"):
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(_UPSERT_PG, pg_params(increments, list(TABLES)))
        return
    for name, t in TABLES.items():
        await conn.execute(_sqlite_upsert(conn, t), _rows(t, increments[name]))


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
_TABLES: dict[Grain, Table] = {"hour": TABLES["hourly"], "day": TABLES["daily"], "month": TABLES["monthly"]}


def _select(grain: Grain, a: datetime, b: datetime, sign: int, app_id: uuid.UUID, f: Filters, group: str | None
) -> Select[Any]:  # fmt: skip
    t = _TABLES[grain]
    c = t.model.__table__.c
    bucket = c[t.bucket]
    lo, hi = (a, b) if grain == "hour" else (a.date(), b.date())
    columns: list[Any] = [c[n] if sign > 0 else (-c[n]).label(n) for n in COUNTERS]
    if group is not None:
        columns.insert(0, c[group].label("k"))
    stmt = select(*columns).where(c.app_id == app_id, bucket >= lo, bucket < hi)
    for name, value in f.values().items():
        stmt = stmt.where(c[name] == value)
    return stmt


async def sums(
    session: AsyncSession, app_id: uuid.UUID, pieces: Sequence[Piece], f: Filters, group: str | None = None
) -> list[tuple[Any, list[int]]]:
    """The counters summed over the pieces of a period, per value of `group` (a dimension, or
    the pieces' bucket: "hour", "day" or "month"), or one total (key None) when `group` is None.

    One statement (one snapshot, one round trip), so that a month less some of its days is read
    from rows committed together. A key whose counters all sum to zero had no row within the
    period (every row holds at least one count) and is left out, as if it had not been read."""
    if not pieces:
        return []
    parts = [_select(g, a, b, sign, app_id, f, group) for g, a, b, sign in pieces]
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
