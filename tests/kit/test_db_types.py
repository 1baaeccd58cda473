"""`UtcDateTime` on both backends: aware UTC in and out, and on SQLite the very text
SQLAlchemy's own `DATETIME` writes (so rows written before its fast path still compare and
read alike)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.db import UtcDateTime, make_engine
from tests import backends

_meta = MetaData()
_stamps = Table("stamps", _meta, Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))

VALUES = [
    datetime(2026, 12, 6, 5, 48, 9, 609850, tzinfo=UTC),
    datetime(2026, 12, 6, 5, 48, 9, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 12, 6, 7, 48, 9, 1, tzinfo=timezone(timedelta(hours=2))),  # the same day, 05:48 UTC
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a three-digit year: padded
]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with backends.engine_with_tables(database_url, _meta) as engine:
        yield engine


async def test_values_come_back_as_the_same_instant_in_utc(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        rows = [{"id": i, "at": v} for i, v in enumerate(VALUES)]
        await conn.execute(insert(_stamps), [*rows, {"id": 9, "at": None}])
        back: dict[int, datetime | None] = dict((await conn.execute(select(_stamps.c.id, _stamps.c.at))).all())
    assert back[9] is None
    for i, v in enumerate(VALUES):
        got = back[i]
        assert got == v and got is not None and got.tzinfo == UTC


async def test_order_and_comparison_in_sql_follow_time(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(_stamps), [{"id": i, "at": v} for i, v in enumerate(VALUES)])
        cut = datetime(2026, 12, 6, 5, 48, 9, 500000, tzinfo=UTC)
        later = (await conn.scalars(select(_stamps.c.id).where(_stamps.c.at > cut).order_by(_stamps.c.at))).all()
        ordered = (await conn.scalars(select(_stamps.c.id).order_by(_stamps.c.at))).all()
    assert later == [0]  # 2 is the same instant as 1 plus a microsecond; 0 is 609850
    assert ordered == [3, 1, 2, 0]


def test_a_naive_datetime_is_refused_before_it_reaches_the_database() -> None:
    for dialect in (sqlite.dialect(), postgresql.asyncpg.dialect()):  # type: ignore[no-untyped-call]
        process = UtcDateTime().bind_processor(dialect)
        assert process is not None
        with pytest.raises(ValueError, match="naive"):
            process(datetime(2026, 1, 1))


async def test_sqlite_stores_sqlalchemys_own_datetime_text(tmp_path: Path) -> None:
    """The fast path writes what SQLAlchemy's `DATETIME` writes, and reads what it wrote."""
    reference = sqlite.DATETIME().bind_processor(sqlite.dialect())  # type: ignore[no-untyped-call]
    assert reference is not None
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_meta.create_all)
            await conn.execute(insert(_stamps), [{"id": i, "at": v} for i, v in enumerate(VALUES)])
            stored: dict[int, str] = dict((await conn.execute(text("SELECT id, at FROM stamps"))).all())
            for i, v in enumerate(VALUES):
                assert stored[i] == reference(v.astimezone(UTC).replace(tzinfo=None))
            await conn.execute(text("INSERT INTO stamps (id, at) VALUES (7, '2026-01-02 03:04:05')"))
            assert await conn.scalar(select(_stamps.c.at).where(_stamps.c.id == 7)) == datetime(
                2026, 1, 2, 3, 4, 5, tzinfo=UTC
            )
    finally:
        await engine.dispose()
