"""The migrations and the models must describe the same schema, on every backend."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from herald.kit.db import make_engine
from herald.migrations import alembic_config
from herald.models import Base


def _diff(connection: Connection) -> list[object]:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
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
