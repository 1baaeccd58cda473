"""SQLite's adapter: one trip to the connection's thread per statement, and the same answers
(rows, row counts, ids, errors) as SQLAlchemy's own aiosqlite adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from herald.kit import sqlite_driver
from herald.kit.db import make_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function aiosqlite runs in a connection's thread, in order."""
    seen: list[str] = []
    original: Callable[..., Awaitable[Any]] = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_a_statement_is_one_trip_to_sqlites_thread(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 0"))  # after the transaction's BEGIN
        trips.clear()
        rows = (await conn.execute(text("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y'"))).all()
        assert trips == ["_statement"]  # SQLAlchemy's adapter: cursor, execute, fetchall, close
    assert [tuple(r) for r in rows] == [(1, "x"), (2, "y")]


async def test_writes_report_their_counts_ids_and_returned_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert first.lastrowid == 1 and first.rowcount == 1
        many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}, {"v": "d"}])
        assert many.rowcount == 3
        returned = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 2 RETURNING id, v"))
        assert sorted(tuple(r) for r in returned) == [(3, "c!"), (4, "d!")]
        none = await conn.execute(text("DELETE FROM t WHERE id > 100"))
        assert none.rowcount == 0
        assert (await conn.execute(text("SELECT v FROM t WHERE id = 99"))).first() is None
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 4


async def test_errors_are_sqlalchemys_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        with pytest.raises(OperationalError, match="no such table"):
            await conn.execute(text("SELECT * FROM nowhere"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_server_side_cursors_keep_sqlalchemys_own(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": str(n)} for n in range(50)])
    async with engine.connect() as conn:
        stream = await conn.stream(text("SELECT v FROM t ORDER BY id"))
        got = [row[0] async for row in stream]
        assert got == [str(n) for n in range(50)]


def test_the_adapter_is_what_sqlite_engines_use(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'y.db'}")
    assert isinstance(engine.sync_engine.dialect.dbapi, sqlite_driver.OneTripDbapi)


async def test_write_many_runs_its_statements_in_one_trip_within_the_transaction(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        trips.clear()
        counts = await sqlite_driver.write_many(
            conn,
            [
                ("INSERT INTO t (v) VALUES (?)", [("b",), ("c",), ("d",)]),
                ("UPDATE t SET v = v || '!' WHERE id >= ?", [(3,)]),
                ("DELETE FROM t WHERE v = ?", [("a",), ("nothing",)]),
            ],
        )
        assert trips == ["_statements"]
        assert counts == [3, 2, 1]
        assert sorted(r.v for r in await conn.execute(text("SELECT v FROM t"))) == ["b", "c!", "d!"]
        await conn.rollback()  # the writes were the transaction's: rolled back with it
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_write_many_refuses_another_adapters_connection(tmp_path: Path) -> None:
    """Its one trip needs this module's connection; SQLAlchemy's own adapter would take a trip
    per statement unnoticed, so it is refused rather than served slowly."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    try:
        async with engine.connect() as conn:
            with pytest.raises(TypeError, match="this module's connection"):
                await sqlite_driver.write_many(conn, [("SELECT 1", [()])])
    finally:
        await engine.dispose()
