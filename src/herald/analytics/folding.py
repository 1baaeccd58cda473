"""Folding: the increments the hot path staged (`analytics_pending`) added to the rollups.

Writers only append increments (`models.PendingIncrement` says why). A fold takes a batch of
staged rows, sums them per key, adds the sums to the hourly, daily and monthly tables and
deletes the rows, all in one transaction: a row is counted exactly once, whoever folds it and
whatever crashes. Each increment is also added at the coarser levels (`models.LEVELS`: the
app's totals, each dimension alone), which the queries that name only those read. On
PostgreSQL a folder locks the oldest rows no other folder holds (SKIP LOCKED), so any number of
processes fold side by side; each table's keys are written in sorted order, hourly then daily
then monthly, then the levels' likewise, so two folders never deadlock on the rows they share.
On SQLite a fold is the same SQL as statements of their own, sent in one trip to SQLite's
thread: the sums are the database's work, none of it per row on the event loop that also sends
(summed in Python with the levels, a fold of a second's 80 rows cost that loop 3.6 ms).

Who folds: every worker process and the scheduler, each `analytics.fold_interval` (a second).
A reader folds first (`fold_all`, waiting for rows another folder holds), so its answer
includes every increment committed before it asked, even where no worker runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.analytics.models import COUNTERS, DIMENSIONS, LEVELS, PendingIncrement
from herald.analytics.repository import TABLES, Table
from herald.kit import sqlite_driver
from herald.kit.metrics import FOLD_SECONDS, FOLDED_INCREMENTS

log = logging.getLogger(__name__)

_PENDING = PendingIncrement.__tablename__
# Each table's bucket, from a staged row's hour: a timestamptz in PostgreSQL; in SQLite the text
# `kit.db.UtcDateTime` stores (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC), whose first ten characters
# are the day as a `Date` column stores it.
_BUCKETS = {
    "postgresql": {
        "hour": "hour",
        "day": "CAST(hour AT TIME ZONE 'UTC' AS date)",
        "month": "CAST(date_trunc('month', hour AT TIME ZONE 'UTC') AS date)",
    },
    "sqlite": {"hour": "hour", "day": "substr(hour, 1, 10)", "month": "substr(hour, 1, 8) || '01'"},
}


def _leveled(source: str, where: str = "") -> str:
    """A SELECT of `source`'s rows once per level (`LEVELS`), each with the dimensions its level
    drops as "" (a VALUES row of flags per level: the same SQL on both backends)."""
    flags = ", ".join(
        "(" + ", ".join([f"'{name}'", *("1" if d in kept else "0" for d in DIMENSIONS)]) + ")"
        for name, kept in LEVELS.items()
    )
    dims = ", ".join(f"CASE WHEN l.column{i} = 1 THEN m.{d} ELSE '' END AS {d}" for i, d in enumerate(DIMENSIONS, 2))
    counters = ", ".join(f"m.{c}" for c in COUNTERS)
    return (
        f"SELECT m.app_id, m.hour, l.column1 AS level, {dims}, {counters}"  # noqa: S608
        f" FROM {source} AS m CROSS JOIN (VALUES {flags}) AS l{where}"
    )


def _upsert(t: Table, source: str, buckets: dict[str, str], *, where: str = "", order: str = "") -> str:
    """INSERT INTO `t` the sums of `source`'s rows per `t`'s key, added to the rows there.

    Only this module's constant names go into the text; values are bound."""
    bucket = buckets[t.bucket]
    keys = ", ".join(t.keys)
    selected = ", ".join(f"{bucket} AS {k}" if k == t.bucket else k for k in t.keys)
    grouped = ", ".join(bucket if k == t.bucket else k for k in t.keys)
    sums = ", ".join(f"sum({c})" for c in COUNTERS)
    sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)
    # `WHERE true`: SQLite would read an ON right after the FROM as a join's.
    return (
        f"INSERT INTO {t.name} AS r ({keys}, {', '.join(COUNTERS)})"  # noqa: S608
        f" SELECT * FROM (SELECT {selected}, {sums} FROM {source}{where} GROUP BY {grouped}) AS s WHERE true{order}"
        f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    )


def _pg_fold(wait: bool) -> Any:
    moved = ", ".join(f"p.{c}" for c in ("app_id", "hour", *DIMENSIONS, *COUNTERS))
    names = list(TABLES)
    parts = [f"leveled AS ({_leveled('moved')})"]
    for i, name in enumerate(names):
        t = TABLES[name]
        # Every folder sorts the keys alike (text in code point order: COLLATE "C"), so none
        # deadlocks another.
        order = ", ".join(k if k in ("app_id", t.bucket) else f'{k} COLLATE "C"' for k in t.keys)
        # Each table waits on the one before (a filter over its CTE's rows), so every folder
        # locks hourly rows, then daily, then monthly, then the levels' in the same order,
        # whatever order PostgreSQL runs CTEs in.
        guard = f" WHERE (SELECT count(*) FROM fold_{names[i - 1]}) >= 0" if i else ""  # noqa: S608
        source = "leveled" if t.leveled else "moved"
        upsert = _upsert(t, source, _BUCKETS["postgresql"], where=guard, order=f" ORDER BY {order}")
        parts.append(f"fold_{name} AS ({upsert} RETURNING 1)")
    # A folder takes the oldest rows no other transaction holds (folders pass each other by); a
    # reader waits for them.
    lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
    return text(
        f"WITH picked AS (SELECT id FROM {_PENDING} ORDER BY id LIMIT :limit {lock}),"  # noqa: S608
        f" moved AS (DELETE FROM {_PENDING} AS p USING picked WHERE p.id = picked.id RETURNING {moved}), "
        + ", ".join(parts)
        + " SELECT count(*) FROM moved"
    )


_PG_FOLD = {wait: _pg_fold(wait) for wait in (False, True)}

# SQLite: the rows up to an id (the one parameter of each statement), folded into every table,
# then deleted. SQLite has no data-modifying CTEs, so these are statements of their own, sent
# in one trip (`sqlite_driver.write_many`).
_SQLITE_RANGE = " WHERE m.id <= ?"
_SQLITE_FOLD = [
    _upsert(
        t,
        f"({_leveled(_PENDING, _SQLITE_RANGE)})" if t.leveled else f"{_PENDING} AS m",
        _BUCKETS["sqlite"],
        where="" if t.leveled else _SQLITE_RANGE,
    )
    for t in TABLES.values()
] + [f"DELETE FROM {_PENDING} WHERE id <= ?"]  # noqa: S608
_SQLITE_PICK = text(f"SELECT count(*), max(id) FROM (SELECT id FROM {_PENDING} ORDER BY id LIMIT :limit)")  # noqa: S608


async def fold(conn: AsyncConnection, *, limit: int, wait: bool = False) -> int:
    """Fold at most `limit` staged rows in `conn`'s transaction (the oldest); how many.

    `wait`: wait for rows another folder holds instead of passing them by (a reader's fold)."""
    if conn.dialect.name == "postgresql":
        return int((await conn.execute(_PG_FOLD[wait], {"limit": limit})).scalar_one())
    # SQLite: the transaction began IMMEDIATE, so no one writes until it ends, and the oldest
    # `limit` rows are every row up to the highest id among them. The sums are SQLite's work,
    # in its thread: nothing per row on the event loop, which also sends.
    count, last = (await conn.execute(_SQLITE_PICK, {"limit": limit})).one()
    if not count:
        return 0
    await sqlite_driver.write_many(conn, [(sql, [(last,)]) for sql in _SQLITE_FOLD])
    return int(count)


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
        opened = self._single.connect() if self._single is not None else self._engine.begin()
        async with opened as conn:
            started = time.perf_counter()
            n = await fold(conn, limit=self._batch)
        FOLD_SECONDS.observe(time.perf_counter() - started)
        FOLDED_INCREMENTS.inc(n)
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
