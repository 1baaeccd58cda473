"""Migration 0016 adds the page's columns to `apps` in place, on each backend: every app's
data stays (on SQLite, recreating `apps` would drop it under its ON DELETE CASCADE keys)."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from sqlalchemy import Uuid, column, insert, select, table

from herald.apps.models import App
from herald.kit.clock import utcnow
from herald.kit.db import UtcDateTime, make_engine
from herald.kit.ids import uuid7
from herald.migrations import alembic_config
from herald.recipients.models import User

# `apps` as 0011 has it: today's model has columns 0011 has not.
_APPS_0011 = table(
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
            row = {"id": app, "name": "old", "key_id": "hk_0016", "secret_hash": "x", "active": True}
            await conn.execute(insert(_APPS_0011).values(**row, created_at=now, updated_at=now))
            await conn.execute(insert(User).values(app_id=app, user_id="42", attributes={}))
    finally:
        await engine.dispose()


async def _read(url: str, app: uuid.UUID) -> tuple[list[str], list[object], dict[str, object]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            users = list((await conn.scalars(select(User.user_id).where(User.app_id == app))).all())
            categories, branding = (await conn.execute(select(App.categories, App.branding))).one()
    finally:
        await engine.dispose()
    return users, categories, branding


def test_0016_keeps_every_apps_data(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0011")
    app = uuid7()
    asyncio.run(_seed(database_url, app))
    command.upgrade(cfg, "head")
    assert asyncio.run(_read(database_url, app)) == (["42"], [], {})
    command.downgrade(cfg, "0011")
    command.upgrade(cfg, "head")
    assert asyncio.run(_read(database_url, app))[0] == ["42"]
