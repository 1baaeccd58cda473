"""The migrations and the models must describe the same schema, on every backend."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Boolean, Connection, Executable, String, TableClause, Uuid, column, insert, select, table
from sqlalchemy.sql.expression import ColumnClause

from herald.apps.models import App
from herald.kit.db import UtcDateTime, make_engine
from herald.migrations import alembic_config, on_backend
from herald.models import Base
from herald.recipients.models import User


def _diff(connection: Connection) -> list[object]:
    opts = {"compare_type": True, "include_object": on_backend(connection.dialect)}
    ctx = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(ctx, Base.metadata))


async def test_models_match_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    cfg = alembic_config(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")


def test_waiting_outbox_rows_survive_the_change_to_a_row_per_request(tmp_path: Path) -> None:
    """0004 turns each waiting row into a row of one pair, and back: none is lost either way."""
    db = tmp_path / "x.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{db}")
    command.upgrade(cfg, "0003")
    d = uuid.uuid4()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO outbox (channel, delivery_id, created_at) VALUES ('sms', ?, '2026-12-04 06:00:00')", (d.hex,)
        )
    command.upgrade(cfg, "head")
    with sqlite3.connect(db) as conn:
        [(entries,)] = conn.execute("SELECT entries FROM outbox").fetchall()
    [[delivery, channel]] = json.loads(entries)
    assert (uuid.UUID(delivery), channel) == (d, "sms")
    command.downgrade(cfg, "0003")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT channel, delivery_id FROM outbox").fetchall() == [("sms", d.hex)]


def _apps_0004(*later: ColumnClause[Any]) -> TableClause:
    """The apps table as 0004 left it (with `later` columns), typed so each backend binds its own way."""
    names = ("name", "key_id", "secret_hash")
    return table(
        "apps",
        column("id", Uuid()),
        *(column(n, String()) for n in names),
        column("active", Boolean()),
        column("created_at", UtcDateTime()),
        *later,
    )


def apps_since_0005() -> TableClause:
    """The apps table's columns that every revision from 0005 on has: for rows written at an
    old revision (today's model has columns those revisions have not)."""
    return _apps_0004(column("updated_at", UtcDateTime()))


async def seed_app_with_user(database_url: str, app: uuid.UUID) -> None:
    """An app and its user "42", written at whatever revision (0005 or later) the database is at."""
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            now = datetime.now(UTC)
            row = {"id": app, "name": "old", "key_id": f"hk_{app.hex[:12]}", "secret_hash": "x", "active": True}
            await conn.execute(insert(apps_since_0005()).values(**row, created_at=now, updated_at=now))
            await conn.execute(insert(User).values(app_id=app, user_id="42", attributes={}))
    finally:
        await engine.dispose()


def _at(database_url: str, *statements: Executable) -> list[Sequence[Any]]:
    """Run statements in one transaction; the rows of the last."""

    async def run() -> list[Sequence[Any]]:
        engine = make_engine(database_url)
        try:
            async with engine.begin() as conn:
                result = None
                for stmt in statements:
                    result = await conn.execute(stmt)
                return [tuple(r) for r in result.all()] if result is not None and result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_apps_survive_0005_both_ways(database_url: str) -> None:
    """0005 and 0006 on each backend: an existing app is kept, not marked development, and its
    updated_at starts at its created_at; downgrading keeps it too."""
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0004")
    apps = _apps_0004()
    created = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    row = {"id": uuid.uuid4(), "name": "a", "key_id": "hk_a", "secret_hash": "h", "active": True, "created_at": created}
    _at(database_url, insert(apps).values(**row))
    command.upgrade(cfg, "head")
    [(development, updated, previous)] = _at(
        database_url, select(App.development, App.updated_at, App.previous_secret_hash).where(App.key_id == "hk_a")
    )
    assert (development, updated, previous) == (False, created, None)
    # 0006: no end-user key until the app asks for one, and no web origin allowed.
    [(key, origins)] = _at(database_url, select(App.end_user_key, App.allowed_origins).where(App.key_id == "hk_a"))
    assert (key, origins) == (None, [])
    command.downgrade(cfg, "0004")
    assert _at(database_url, select(apps.c.name, apps.c.created_at)) == [("a", created)]
    command.upgrade(cfg, "head")
