"""Every SQL statement about rollups: the increments (one upsert per key and table), and the sums
read back.

The increments run inside the transaction that recorded the events, on the delivery hot path:
one statement per batch on PostgreSQL (the keys' increments unnested from arrays, every table's
rows together), an executemany per table on SQLite. Keys are written in sorted
order, so two transactions that touch the same rows lock them in the same order and cannot
deadlock each other.
"""

from __future__ import annotations

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


def _pg_upsert(t: Table, prefix: str) -> str:
    keys = ", ".join(t.keys)
    arrays = [f"CAST(:{prefix}app_id AS uuid[])", f"CAST(:{prefix}bucket AS {t.sql_type}[])"]
    arrays += [f"CAST(:{prefix}{d} AS text[])" for d in t.keys[2:]]
    arrays += [f"CAST(:{prefix}{c} AS bigint[])" for c in COUNTERS]
    sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)
    # Only this module's constant names go into the text; every value is a bound array.
    return (
        f"INSERT INTO {t.name} AS r ({keys}, {', '.join(COUNTERS)}) SELECT * FROM unnest({', '.join(arrays)})"  # noqa: S608
        f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    )


def pg_upsert(names: Sequence[str]) -> TextClause:
    """The upsert of these tables' increments (parameters: `pg_params`) in one statement: every
    table but the last in a data-modifying CTE, the last in the main statement. PostgreSQL runs
    them in the same order for every execution of the text, so the sorted keys keep every
    writer's lock order the same."""
    parts = [_pg_upsert(TABLES[name], name + "_") for name in names]
    ctes = ", ".join(f"{name} AS ({part})" for name, part in zip(names[:-1], parts[:-1], strict=True))
    return text(f"WITH {ctes} {parts[-1]}" if ctes else parts[-1])


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
    channel: str | None = None
    provider: str | None = None


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
    for name in ("template", "channel", "provider"):
        value = getattr(f, name)
        if value is not None:
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
