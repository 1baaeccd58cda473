"""How folds share the staged rows on PostgreSQL: a folder passes by the rows another holds (any
number fold side by side), a reader's fold waits for them (its answer counts every increment
committed before it asked)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select, text

from herald.analytics.folding import Folder, fold_all
from herald.analytics.models import HourlyRollup, PendingIncrement
from herald.runtime import Runtime
from tests.analytics.seeding import app_ids, publish, recorded
from tests.analytics.test_periods import at

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

T0 = at("2026-02-01T10:00")


async def _staged_twice(runtime: Runtime) -> None:
    [app, *_] = await app_ids(runtime)
    for template in ("held", "free"):
        await publish(runtime.engine, [recorded(app, "sent", T0, template=template)])


async def _sent(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(HourlyRollup.template, HourlyRollup.sent))).all()
    return {t: n for t, n in rows}


async def test_a_folder_passes_by_rows_another_holds(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await _staged_twice(runtime)
    async with runtime.engine.connect() as holder:
        await holder.execute(text("SELECT id FROM analytics_pending ORDER BY id LIMIT 1 FOR UPDATE"))
        folded = await asyncio.wait_for(Folder(runtime.engine, interval=0, batch=10).once(), timeout=5)
        assert folded == 1
        assert await _sent(runtime) == {"free": 1}
        await holder.rollback()
    async with runtime.sessions() as session:
        assert (await session.scalar(select(func.count()).select_from(PendingIncrement))) == 1


async def test_a_readers_fold_waits_for_rows_a_folder_holds(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await _staged_twice(runtime)
    async with runtime.engine.connect() as holder:
        await holder.execute(text("SELECT id FROM analytics_pending ORDER BY id LIMIT 1 FOR UPDATE"))

        async def read() -> int:
            async with runtime.engine.begin() as conn:
                return await fold_all(conn)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.3)
        assert not reader.done()  # waiting for the held row
        await holder.rollback()  # released, still staged: the reader folds it
        assert await asyncio.wait_for(reader, timeout=5) == 2
    assert await _sent(runtime) == {"held": 1, "free": 1}
