"""Folding: the increments the hot path staged (`analytics_pending`) added to the rollups.

Writers only append increments (`models.PendingIncrement` says why). A fold takes a batch of
staged rows, sums them per key, adds the sums to the hourly, daily and monthly tables and
deletes the rows, all in one transaction: a row is counted exactly once, whoever folds it and
whatever crashes. Each increment is also added at the coarser levels (`models.LEVELS`: the
app's totals, each dimension alone), which the queries that name only those read. On
PostgreSQL a folder locks the oldest rows no other folder holds (SKIP LOCKED), so any number of
processes fold side by side; each table's keys are written in sorted order, hourly then daily
then monthly, then the levels' likewise, so two folders never deadlock on the rows they share.

Who folds: every worker process and the scheduler, each `analytics.fold_interval` (a second).
A reader folds first (`fold_all`, waiting for rows another folder holds), so its answer
includes every increment committed before it asked, even where no worker runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.analytics.models import COUNTERS, LEVELS, PendingIncrement
from herald.analytics.repository import SQLITE_UPSERTS, TABLES, Key, Table, leveled, table
from herald.kit import sqlite_driver
from herald.kit.metrics import FOLD_SECONDS, FOLDED

log = logging.getLogger(__name__)

_P = PendingIncrement.__table__
_SQLITE_DELETE = f"DELETE FROM {PendingIncrement.__tablename__} WHERE id <= ?"  # noqa: S608 (a constant name)
_DIMS = ("template", "template_version", "channel", "provider")
# Each table's bucket, from a staged row's hour (a timestamptz), in PostgreSQL.
_PG_BUCKETS = {
    "hour": "hour",
    "day": "CAST(hour AT TIME ZONE 'UTC' AS date)",
    "month": "CAST(date_trunc('month', hour AT TIME ZONE 'UTC') AS date)",
}


def _pg_levels() -> str:
    """The CTE `leveled`: each moved row once per level (`LEVELS`), its dropped dimensions ""."""
    rows = ", ".join(
        "(" + ", ".join([f"'{name}'", *(f"m.{d}" if d in kept else "''" for d in _DIMS)]) + ")"
        for name, kept in LEVELS.items()
    )
    counters = ", ".join(f"m.{c}" for c in COUNTERS)
    dims = ", ".join(f"l.{d}" for d in _DIMS)
    return (
        f"leveled AS (SELECT m.app_id, m.hour, l.level, {dims}, {counters} FROM moved AS m"  # noqa: S608
        f" CROSS JOIN LATERAL (VALUES {rows}) AS l(level, {', '.join(_DIMS)}))"
    )


def _pg_fold(wait: bool) -> Any:
    moved = ", ".join(f"p.{c}" for c in ("app_id", "hour", *_DIMS, *COUNTERS))
    names = list(TABLES)
    parts = [_pg_levels()]
    for i, name in enumerate(names):
        t = TABLES[name]
        bucket = _PG_BUCKETS[t.bucket]
        keys = ", ".join(t.keys)
        source, level = ("leveled", ["level"]) if t.leveled else ("moved", [])
        grouped = ", ".join(["app_id", *level, bucket, *_DIMS])
        # Sorted as Python sorts the keys (text in code point order: COLLATE "C").
        order = ", ".join(
            ["app_id", *(f'{n} COLLATE "C"' for n in level), t.bucket, *(f'{d} COLLATE "C"' for d in _DIMS)]
        )
        sums = ", ".join(f"sum({c})" for c in COUNTERS)
        sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)
        # Each table waits on the one before (a filter over its CTE's rows), so every folder
        # locks hourly rows, then daily, then monthly, then the levels' in the same order,
        # whatever order PostgreSQL runs CTEs in.
        guard = f" WHERE (SELECT count(*) FROM fold_{names[i - 1]}) >= 0" if i else ""  # noqa: S608
        selected = ", ".join(["app_id", *level, f"{bucket} AS {t.bucket}", *_DIMS])
        # Only this module's constant names go into the text; the limit is a bound value.
        parts.append(
            f"fold_{name} AS (INSERT INTO {t.name} AS r ({keys}, {', '.join(COUNTERS)})"  # noqa: S608
            f" SELECT * FROM (SELECT {selected}, {sums} FROM {source}{guard}"
            f" GROUP BY {grouped}) AS s ORDER BY {order}"
            f" ON CONFLICT ({keys}) DO UPDATE SET {sets} RETURNING 1)"
        )
    # A folder takes the oldest rows no other transaction holds (folders pass each other by); a
    # reader waits for them.
    lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
    return text(
        f"WITH picked AS (SELECT id FROM analytics_pending ORDER BY id LIMIT :limit {lock}),"  # noqa: S608
        f" moved AS (DELETE FROM analytics_pending AS p USING picked WHERE p.id = picked.id RETURNING {moved}), "
        + ", ".join(parts)
        + " SELECT count(*) FROM moved"
    )


_PG_FOLD = {wait: _pg_fold(wait) for wait in (False, True)}


async def fold(conn: AsyncConnection, *, limit: int, wait: bool = False) -> int:
    """Fold at most `limit` staged rows in `conn`'s transaction (the oldest); how many.

    `wait`: wait for rows another folder holds instead of passing them by (a reader's fold)."""
    if conn.dialect.name == "postgresql":
        return int((await conn.execute(_PG_FOLD[wait], {"limit": limit})).scalar_one())
    # SQLite: the transaction began IMMEDIATE, so no one writes until it ends, and the lowest
    # ids read here are every row up to the highest of them.
    rows = (await conn.execute(select(_P).order_by(_P.c.id).limit(limit))).all()
    if not rows:
        return 0
    d = conn.dialect
    writes = [
        (SQLITE_UPSERTS[t].sql(d), SQLITE_UPSERTS[t].parameters(d, [(*k, *sums[k]) for k in sorted(sums)]))
        for t, sums in _sums(rows).items()
    ]
    writes.append((_SQLITE_DELETE, [(rows[-1].id,)]))
    # The six upserts and the delete in one trip: the fold holds the write lock for three trips
    # (this, the read and the commit) instead of nine.
    await sqlite_driver.write_many(conn, writes)
    return len(rows)


def _sums(rows: Sequence[Row[Any]]) -> dict[Table, dict[Key, list[int]]]:
    """The staged rows' sums per table and key (the levels' keys: app, level, bucket, dimensions).

    The levels are summed from the combinations' sums, not from every staged row: a fold's rows
    share few keys, and on SQLite this runs on the event loop that also sends."""
    out: dict[Table, dict[Key, list[int]]] = {t: {} for t in TABLES.values()}
    combined = [t for t in TABLES.values() if not t.leveled]
    for row in rows:
        hour = row.hour.astimezone(UTC)
        day = hour.date()
        buckets = {"hour": hour, "day": day, "month": day.replace(day=1)}
        dims = tuple(getattr(row, d) for d in _DIMS)
        counts = [getattr(row, c) for c in COUNTERS]
        for t in combined:
            _add(out[t], (row.app_id, buckets[t.bucket], *dims), counts)
    for t in combined:
        levels = out[table(t.bucket, leveled=True)]
        for key, counts in out[t].items():
            for level, kept in leveled(key[2:]):
                _add(levels, (key[0], level, key[1], *kept), counts)
    return out


def _add(into: dict[Key, list[int]], key: Key, counts: list[int]) -> None:
    sums = into.get(key)
    if sums is None:
        into[key] = list(counts)
    else:
        for i, n in enumerate(counts):
            sums[i] += n


async def fold_all(conn: AsyncConnection, *, most: int = 100_000) -> int:
    """Fold what is staged (up to `most` rows) in `conn`'s transaction, waiting for rows other
    folders hold: a reader's fold, before it reads.

    One statement, so that its locks are taken as every folder's are: the staged rows in id
    order first, then the rollup rows in sorted key order. A reader that folded in several
    batches within its one transaction would hold the rollup rows of its first batches while
    waiting for a folder's staged rows, and that folder could be waiting for those very rollup
    rows: a deadlock (the levels' rows, which every fold adds to, made it certain)."""
    return await fold(conn, limit=most, wait=True)


class Folder:
    """Folds the staged increments every `interval` seconds until stopped (any number of
    processes may run one). `single`: an engine without transactions (PostgreSQL), as a fold
    is one statement, atomic by itself: no BEGIN and COMMIT round trips every second."""

    def __init__(self, engine: AsyncEngine, *, interval: float, batch: int, single: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._single = single
        self._interval = interval
        self._batch = batch
        self.folded = 0

    async def _fold_batch(self) -> int:
        # Timed from the connection in hand (not the wait for it) to the commit's end: how long
        # the fold holds its connection, and on SQLite the write lock.
        if self._single is not None:
            async with self._single.connect() as conn:
                started = time.perf_counter()
                n = await fold(conn, limit=self._batch)
        else:
            async with self._engine.begin() as conn:
                started = time.perf_counter()
                n = await fold(conn, limit=self._batch)
        FOLD_SECONDS.observe(time.perf_counter() - started)
        FOLDED.inc(n)
        return n

    async def once(self) -> int:
        """One pass: batches until a short one (a backlog is folded without waiting)."""
        total = 0
        while True:
            n = await self._fold_batch()
            total += n
            if n < self._batch:
                break
        self.folded += total
        return total

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            try:
                await self.once()
            except Exception:
                log.exception("analytics: folding the staged increments failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, self._interval - (loop.time() - started)))
