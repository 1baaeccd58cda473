"""`kit.bulk.Bulk` on both backends: the rows it writes hold exactly what SQLAlchemy's own
executemany writes, its counts are the rows changed, and a statement it cannot run whole is
refused when first used."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, Table, Uuid, bindparam, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import literal_column

from herald.kit.bulk import Bulk
from herald.kit.db import JsonType, UtcDateTime, make_engine
from tests import backends

_meta = MetaData()


def _table(name: str) -> Table:
    return Table(
        name,
        _meta,
        Column("id", Integer, primary_key=True),
        Column("key", sqlite.VARCHAR(20), unique=True),
        Column("uid", Uuid()),
        Column("at", UtcDateTime()),
        Column("doc", JsonType),
        Column("flag", Boolean),
        Column("n", Integer, nullable=False),
    )


ours = _table("bulk_ours")
theirs = _table("bulk_theirs")
with_default = Table("bulk_default", _meta, Column("id", Integer, primary_key=True), Column("n", Integer, default=7))
NAMES = ("id", "key", "uid", "at", "doc", "flag")

ROWS: list[tuple[Any, ...]] = [
    (1, "a", uuid.UUID(int=1), datetime(2026, 12, 6, 5, 48, 9, 609850, tzinfo=UTC), {"x": [1, "é"]}, True),
    (2, "b", None, datetime(2026, 12, 6, 7, 0, tzinfo=timezone(timedelta(hours=2))), None, False),
    (3, "c", uuid.uuid4(), None, {"nested": {"k": None}}, None),
]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with backends.engine_with_tables(database_url, _meta) as engine:
        yield engine


async def test_rows_hold_what_sqlalchemys_executemany_writes(engine: AsyncEngine) -> None:
    counted: dict[str, Any] = {"n": literal_column("5")}
    async with engine.begin() as conn:
        written = await Bulk(insert(ours).values(counted), NAMES).run(conn, ROWS)
        await conn.execute(insert(theirs).values(counted), [dict(zip(NAMES, r, strict=True)) for r in ROWS])
        # As the database holds them, no result processing (JSON as text, booleans as stored).
        raw = {}
        for t in (ours, theirs):
            rows = await conn.execute(text(f"SELECT id, key, uid, at, CAST(doc AS TEXT), flag, n FROM {t.name}"))
            raw[t.name] = sorted(tuple(r) for r in rows)
        typed = (await conn.execute(select(ours.c.at, ours.c.doc).where(ours.c.id == 2))).one()
    assert written == (3 if engine.dialect.name == "sqlite" else -1)  # asyncpg counts nothing
    assert raw["bulk_ours"] == raw["bulk_theirs"]
    assert [r[-1] for r in raw["bulk_ours"]] == [5, 5, 5]
    assert typed.at == datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


async def test_the_count_is_the_rows_changed_on_sqlite(tmp_path: Path) -> None:
    """What the embedded intake and recorder rely on (asyncpg's executemany counts nothing)."""
    skip = Bulk(sqlite.insert(ours).values(n=0).on_conflict_do_nothing(index_elements=["key"]), ("id", "key"))
    unflagged = update(ours).where(ours.c.key == bindparam("old"), ours.c.flag.is_(None))
    rename = Bulk(unflagged.values(key=bindparam("new"), doc=None), ("new", "old"))
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(_meta.create_all)
        assert await skip.run(conn, [(1, "a"), (2, "b")]) == 2
        assert await skip.run(conn, [(3, "a"), (4, "c"), (5, "b")]) == 1  # a and b were there
        assert await skip.run(conn, []) == 0
        await conn.execute(update(ours).where(ours.c.key == "c").values(flag=True))
        assert await rename.run(conn, [("A", "a"), ("C", "c"), ("Z", "missing")]) == 1
        keys = sorted((await conn.scalars(select(ours.c.key))).all())
    await engine.dispose()
    assert keys == ["A", "b", "c"]


def test_a_statement_it_cannot_run_whole_is_refused() -> None:
    dialect = sqlite.dialect()
    with pytest.raises(ValueError, match="Python-side defaults"):
        Bulk(insert(with_default), ("id",)).parameters(dialect, [(1,)])
    with pytest.raises(ValueError, match="'missing'"):
        Bulk(update(ours).values(key=bindparam("missing")), ("id",)).parameters(dialect, [(1,)])


def test_parameters_follow_the_sqls_order_whatever_the_callers() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stmt = update(ours).where(ours.c.id == bindparam("b_id")).values(at=bindparam("b_at"), flag=None)
    params = Bulk(stmt, ("b_id", "b_at")).parameters(sqlite.dialect(), [(9, at)])
    assert params == [("2026-01-02 03:04:05.000000", None, 9)]
