"""Migrations 0011 and 0019 on each backend: the monthly table, and the coarser levels, start
from the rollups already counted (a year's queries read them: nothing counted before is lost)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

from alembic import command
from sqlalchemy import Uuid, column, insert, select, table

from herald.analytics.models import COUNTERS, LEVELS, DailyRollup, HourlyRollup
from herald.analytics.repository import TABLES
from herald.kit.clock import utcnow
from herald.kit.db import UtcDateTime, make_engine
from herald.kit.ids import uuid7
from herald.migrations import alembic_config
from tests.test_migrations import seed_app_with_user

_APPS_0010 = table(
    "apps",
    *(column(name) for name in ("name", "key_id", "secret_hash", "active")),
    column("id", Uuid()),
    column("created_at", UtcDateTime()),
    column("updated_at", UtcDateTime()),
)


def _row(app: uuid.UUID, bucket: str, at: Any, template: str, sent: int) -> dict[str, Any]:
    counts = dict.fromkeys(COUNTERS, 0) | {"sent": sent, "accepted": sent + 1}
    return {"app_id": app, bucket: at, "template": template, "template_version": "", "channel": "email",
            "provider": "smtp"} | counts  # fmt: skip


async def _before(url: str) -> uuid.UUID:
    engine = make_engine(url)
    try:
        app = uuid7()
        async with engine.begin() as conn:
            # The app as 0010's table holds it: today's model may have columns 0010 has not.
            now = utcnow()
            row = {"id": app, "name": "old", "key_id": "hk_old", "secret_hash": "x", "active": True}
            await conn.execute(insert(_APPS_0010).values(**row, created_at=now, updated_at=now))
            hours = [
                _row(app, "hour", datetime(2026, 1, 31, 23, tzinfo=UTC), "a", 2),
                _row(app, "hour", datetime(2026, 2, 1, 0, tzinfo=UTC), "a", 3),
                _row(app, "hour", datetime(2026, 2, 1, 0, tzinfo=UTC), "b", 4),
                _row(app, "hour", datetime(2026, 2, 17, 9, tzinfo=UTC), "b", 5),
            ]
            await conn.execute(insert(HourlyRollup), hours)
            days = [
                _row(app, "day", date(2026, 1, 31), "a", 2),
                _row(app, "day", date(2026, 2, 1), "a", 3),
                _row(app, "day", date(2026, 2, 1), "b", 4),
                _row(app, "day", date(2026, 2, 17), "b", 5),
            ]
            await conn.execute(insert(DailyRollup), days)
        return app
    finally:
        await engine.dispose()


async def _after(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    out = {}
    try:
        async with engine.connect() as conn:
            for name in ("monthly",):
                t = TABLES[name]
                c = t.model.__table__.c
                keys = [c[k] for k in t.keys[1:]]
                rows = await conn.execute(select(*keys, c.sent, c.accepted).order_by(*keys))
                out[name] = [tuple(r) for r in rows]
    finally:
        await engine.dispose()
    return out


def test_0011_fills_the_monthly_table_from_the_old_rollups(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0010")
    asyncio.run(_before(database_url))
    command.upgrade(cfg, "head")
    found = asyncio.run(_after(database_url))
    jan, feb = date(2026, 1, 1), date(2026, 2, 1)
    assert found["monthly"] == [
        (jan, "a", "", "email", "smtp", 2, 3),
        (feb, "a", "", "email", "smtp", 3, 4),
        (feb, "b", "", "email", "smtp", 9, 11),
    ]
    command.downgrade(cfg, "0010")
    command.upgrade(cfg, "head")


def _bucket(grain: str, when: datetime) -> Any:
    return when if grain == "hour" else when.date() if grain == "day" else when.date().replace(day=1)


async def _rollups_0018(url: str) -> uuid.UUID:
    """An app and its rollups as 0018 holds them: two templates, two channels, two hours."""
    app = uuid7()
    await seed_app_with_user(url, app)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            # The two hours fall on two days in two months: every key is one row in each table.
            hours = (datetime(2026, 1, 31, 23, tzinfo=UTC), datetime(2026, 2, 1, 0, tzinfo=UTC))
            for t in (TABLES["hourly"], TABLES["daily"], TABLES["monthly"]):
                rows = [
                    _row(app, t.bucket, _bucket(t.bucket, when), template, sent) | {"channel": channel}
                    for sent, (template, channel) in enumerate([("a", "email"), ("b", "email"), ("a", "sms")], 1)
                    for when in hours
                ]
                await conn.execute(insert(t.model), rows)
        return app
    finally:
        await engine.dispose()


def test_0019_fills_every_level_from_the_rollups(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0018")
    app = asyncio.run(_rollups_0018(database_url))
    command.upgrade(cfg, "head")

    async def levels() -> dict[tuple[str, str], list[tuple[Any, ...]]]:
        engine = make_engine(database_url)
        out: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        try:
            async with engine.connect() as conn:
                for name in ("hourly_levels", "monthly_levels"):
                    c = TABLES[name].model.__table__.c
                    for level in LEVELS:
                        keys = [c[TABLES[name].bucket], c.template, c.template_version, c.channel, c.provider]
                        stmt = select(*keys, c.sent).where(c.app_id == app, c.level == level).order_by(*keys)
                        out[(name, level)] = [tuple(r) for r in await conn.execute(stmt)]
        finally:
            await engine.dispose()
        return out

    found = asyncio.run(levels())
    h1, h2 = datetime(2026, 1, 31, 23, tzinfo=UTC), datetime(2026, 2, 1, 0, tzinfo=UTC)
    jan, feb = date(2026, 1, 1), date(2026, 2, 1)
    # sent: ("a", email) 1, ("b", email) 2, ("a", sms) 3 in each of the two hours.
    assert found[("hourly_levels", "all")] == [(h1, "", "", "", "", 6), (h2, "", "", "", "", 6)]
    assert found[("hourly_levels", "template")] == [
        (h1, "a", "", "", "", 4), (h1, "b", "", "", "", 2), (h2, "a", "", "", "", 4), (h2, "b", "", "", "", 2)
    ]  # fmt: skip
    assert found[("monthly_levels", "channel")] == [
        (jan, "", "", "email", "", 3), (jan, "", "", "sms", "", 3),
        (feb, "", "", "email", "", 3), (feb, "", "", "sms", "", 3),
    ]  # fmt: skip
    assert found[("monthly_levels", "provider")] == [(jan, "", "", "", "smtp", 6), (feb, "", "", "", "smtp", 6)]
    assert found[("monthly_levels", "template_version")] == [
        (jan, "a", "", "", "", 4), (jan, "b", "", "", "", 2), (feb, "a", "", "", "", 4), (feb, "b", "", "", "", 2)
    ]  # fmt: skip
    command.downgrade(cfg, "0018")
    command.upgrade(cfg, "head")
