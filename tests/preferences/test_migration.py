"""Migration 0016 adds the page's columns to `apps` in place, on each backend: every app's
data stays (on SQLite, recreating `apps` would drop it under its ON DELETE CASCADE keys)."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from sqlalchemy import select

from herald.apps.models import App
from herald.kit.db import make_engine
from herald.kit.ids import uuid7
from herald.migrations import alembic_config
from herald.recipients.models import User
from tests.test_migrations import seed_app_with_user


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
    asyncio.run(seed_app_with_user(database_url, app))
    command.upgrade(cfg, "head")
    assert asyncio.run(_read(database_url, app)) == (["42"], [], {})
    command.downgrade(cfg, "0011")
    command.upgrade(cfg, "head")
    assert asyncio.run(_read(database_url, app))[0] == ["42"]
