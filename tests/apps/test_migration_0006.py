"""Migration 0006 adds the end-user key columns to `apps` in place: upgrading a database that
already holds apps keeps their data (on SQLite a batch recreated `apps`, and dropping the old
table under its ON DELETE CASCADE keys emptied every app's users)."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from sqlalchemy import Uuid, column, insert, select, table

from herald.kit.clock import utcnow
from herald.kit.db import UtcDateTime, make_engine
from herald.kit.ids import uuid7
from herald.migrations import alembic_config
from herald.recipients.models import User

# `apps` as 0005 has it.
_APPS_0005 = table(
    "apps",
    *(column(name) for name in ("name", "key_id", "secret_hash", "active")),
    column("id", Uuid()),
    column("created_at", UtcDateTime()),
    column("updated_at", UtcDateTime()),
)


async def _seed(url: str, app: uuid.UUID) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            now = utcnow()
            row = {"id": app, "name": "old", "key_id": "hk_0006", "secret_hash": "x", "active": True}
            await conn.execute(insert(_APPS_0005).values(**row, created_at=now, updated_at=now))
            await conn.execute(insert(User).values(app_id=app, user_id="42", attributes={}))
    finally:
        await engine.dispose()


async def _users(url: str, app: uuid.UUID) -> list[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.scalars(select(User.user_id).where(User.app_id == app))).all())
    finally:
        await engine.dispose()


def test_0006_keeps_every_apps_data(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0005")
    app = uuid7()
    asyncio.run(_seed(database_url, app))
    command.upgrade(cfg, "head")
    assert asyncio.run(_users(database_url, app)) == ["42"]
