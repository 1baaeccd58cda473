"""Migration 0006 adds the end-user key columns to `apps` in place: upgrading a database that
already holds apps keeps their data (on SQLite a batch recreated `apps`, and dropping the old
table under its ON DELETE CASCADE keys emptied every app's users)."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from sqlalchemy import select

from herald.kit.db import make_engine
from herald.kit.ids import uuid7
from herald.migrations import alembic_config
from herald.recipients.models import User
from tests.test_migrations import seed_app_with_user


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
    asyncio.run(seed_app_with_user(database_url, app))
    command.upgrade(cfg, "head")
    assert asyncio.run(_users(database_url, app)) == ["42"]
