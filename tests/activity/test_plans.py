"""The indexes the search relies on are the ones the databases choose, and the intake's dedup
lookup keeps its unique index: an index led by app_id would take it on PostgreSQL without
statistics (a new deployment), hence the search's (app_id, id) index is partial."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.kit.db import make_engine
from herald.notifications import repository
from herald.notifications.models import Notification
from herald.notifications.search import Search

APP = uuid.UUID("01a246d9-5b65-7000-9f6c-d13ce45abd13")
WEEK_AGO = datetime(2026, 11, 28, tzinfo=UTC)


async def plan(conn: AsyncConnection, stmt: Any) -> str:
    sql = str(stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN " if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    rows = (await conn.exec_driver_sql(explain + sql)).all()
    return "\n".join(str(r[-1]) for r in rows)


async def test_the_dedup_lookup_keeps_the_unique_index(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            stmt = select(Notification).where(Notification.app_id == APP, Notification.event_id.in_(["a", "b"]))
            found = await plan(conn, stmt)
    finally:
        await engine.dispose()
    # SQLite names a table's unique constraint's index itself: it shows as its columns.
    assert "uq_notifications_app_id_event_id" in found or "(app_id=? AND event_id=?)" in found, found


@pytest.mark.parametrize(
    ("search", "index"),
    [
        (Search(), "ix_notifications_app_id"),
        (Search(created_after=WEEK_AGO), "ix_notifications_app_id"),
        (Search(user_id="42"), "ix_notifications_user_app"),
        (Search(event_id="e"), "(app_id=? AND event_id=?)"),
        (Search(template="welcome"), "ix_notifications_template"),
        (Search(category="orders"), "ix_notifications_category"),
        (Search(state="dead"), "ix_deliveries_app_state"),
        (Search(channel="sms"), "ix_deliveries_channel"),
        (Search(provider="twilio"), "ix_deliveries_provider"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_sqlite_serves_each_filter_from_its_index(migrated_sqlite: Path, search: Search, index: str) -> None:
    """SQLite plans without statistics, by rules: what it reads is fixed by the indexes alone.
    (PostgreSQL's plans depend on statistics: bench/activity.py records them on 1M rows.)"""
    engine = make_engine(f"sqlite+aiosqlite:///{migrated_sqlite}")
    try:
        async with engine.connect() as conn:
            found = await plan(conn, repository.page_query(APP, search, before_id=None, limit=51))
    finally:
        await engine.dispose()
    assert index in found, found
    assert "SCAN notifications" not in found and "SCAN deliveries" not in found, found
