"""Every SQL statement about rollups: the increments (one upsert per key), and the sums read back.

The increments run inside the transaction that recorded the events, on the delivery hot path:
one statement per batch on PostgreSQL (the keys' increments unnested from arrays, the hourly
and the daily rows together), an executemany per table on SQLite. Keys are written in sorted
order, so two transactions that touch the same rows lock them in the same order and cannot
deadlock each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.analytics.models import COUNTERS, DIMENSIONS, DailyRollup, HourlyRollup
from herald.kit.db import upsert_insert

# (app_id, bucket, template, template_version, channel, provider)
Key = tuple[uuid.UUID, Any, str, str, str, str]
Increments = dict[Key, list[int]]

_KEY_COLUMNS = ("app_id", "bucket", *DIMENSIONS)


def _pg_upsert(table: str, bucket: str, bucket_type: str, prefix: str) -> str:
    keys = f"app_id, {bucket}, {', '.join(DIMENSIONS)}"
    arrays = [f"CAST(:{prefix}app_id AS uuid[])", f"CAST(:{prefix}bucket AS {bucket_type}[])"]
    arrays += [f"CAST(:{prefix}{d} AS text[])" for d in DIMENSIONS]
    arrays += [f"CAST(:{prefix}{c} AS bigint[])" for c in COUNTERS]
    sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)
    # Only this module's constant names go into the text; every value is a bound array.
    return (
        f"INSERT INTO {table} AS r ({keys}, {', '.join(COUNTERS)}) SELECT * FROM unnest({', '.join(arrays)})"  # noqa: S608
        f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    )


# The hourly rows in a data-modifying CTE, the daily ones in the main statement: one round
# trip for both. PostgreSQL runs them in the same order for every execution of this text, so
# the sorted keys keep every writer's lock order the same.
_UPSERT_PG = text(
    f"WITH hourly AS ({_pg_upsert('analytics_hourly', 'hour', 'timestamptz', 'h_')})"
    f" {_pg_upsert('analytics_daily', 'day', 'date', 'd_')}"
)


def _sqlite_upsert(on: AsyncConnection, model: type[HourlyRollup | DailyRollup]) -> Any:
    stmt = upsert_insert(on, model)
    c = model.__table__.c
    key = [c.app_id, c.hour if model is HourlyRollup else c.day, *(c[d] for d in DIMENSIONS)]
    return stmt.on_conflict_do_update(index_elements=key, set_={n: c[n] + stmt.excluded[n] for n in COUNTERS})


def _arrays(increments: Increments, prefix: str) -> dict[str, list[Any]]:
    keys = sorted(increments)
    out: dict[str, list[Any]] = {prefix + name: [k[i] for k in keys] for i, name in enumerate(_KEY_COLUMNS)}
    for i, name in enumerate(COUNTERS):
        out[prefix + name] = [increments[k][i] for k in keys]
    return out


def _rows(increments: Increments, bucket: str) -> list[dict[str, Any]]:
    names = ("app_id", bucket, *DIMENSIONS)
    return [
        dict(zip(names, k, strict=True)) | dict(zip(COUNTERS, increments[k], strict=True)) for k in sorted(increments)
    ]


async def add(conn: AsyncConnection, hourly: Increments, daily: Increments) -> None:
    """Add the increments to their rows, creating those that do not exist yet."""
    if not hourly:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(_UPSERT_PG, _arrays(hourly, "h_") | _arrays(daily, "d_"))
        return
    await conn.execute(_sqlite_upsert(conn, HourlyRollup), _rows(hourly, "hour"))
    await conn.execute(_sqlite_upsert(conn, DailyRollup), _rows(daily, "day"))


@dataclass(frozen=True, slots=True)
class Filters:
    template: str | None = None
    channel: str | None = None
    provider: str | None = None


Model = type[HourlyRollup] | type[DailyRollup]


def _sums(model: Model) -> list[ColumnElement[Any]]:
    return [func.coalesce(func.sum(getattr(model, c)), 0).label(c) for c in COUNTERS]


def _filtered(stmt: Select[Any], model: Model, app_id: uuid.UUID, f: Filters) -> Select[Any]:
    stmt = stmt.where(model.app_id == app_id)
    if f.template is not None:
        stmt = stmt.where(model.template == f.template)
    if f.channel is not None:
        stmt = stmt.where(model.channel == f.channel)
    if f.provider is not None:
        stmt = stmt.where(model.provider == f.provider)
    return stmt


def _counts(row: Sequence[Any], offset: int) -> list[int]:
    # PostgreSQL's sum of a bigint is a numeric (a Decimal in Python).
    return [int(v) for v in row[offset : offset + len(COUNTERS)]]


async def hourly_sums(
    session: AsyncSession,
    app_id: uuid.UUID,
    ranges: Sequence[tuple[datetime, datetime]],
    f: Filters,
    group: str | None = None,
) -> list[tuple[Any, list[int]]]:
    """Sums of the hourly rows in these [start, end) ranges, per value of `group` (a dimension,
    or "hour"), or one total (key None) when `group` is None."""
    if not ranges:
        return []
    period = or_(*(and_(HourlyRollup.hour >= a, HourlyRollup.hour < b) for a, b in ranges))
    return await _grouped(session, HourlyRollup, app_id, period, f, group)


async def daily_sums(
    session: AsyncSession, app_id: uuid.UUID, start: date, end: date, f: Filters, group: str | None = None
) -> list[tuple[Any, list[int]]]:
    """Sums of the daily rows of the days in [start, end), per value of `group` (a dimension,
    or "day"), or one total (key None) when `group` is None."""
    if start >= end:
        return []
    period = and_(DailyRollup.day >= start, DailyRollup.day < end)
    return await _grouped(session, DailyRollup, app_id, period, f, group)


async def _grouped(
    session: AsyncSession, model: Model, app_id: uuid.UUID, period: ColumnElement[bool], f: Filters, group: str | None
) -> list[tuple[Any, list[int]]]:
    if group is None:
        stmt = _filtered(select(*_sums(model)), model, app_id, f).where(period)
        row = (await session.execute(stmt)).one()
        return [(None, _counts(row, 0))]
    column = getattr(model, group)
    stmt = _filtered(select(column, *_sums(model)), model, app_id, f).where(period).group_by(column)
    return [(row[0], _counts(row, 1)) for row in (await session.execute(stmt)).all()]
