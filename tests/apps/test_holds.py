"""Holding a disabled app's deliveries in the send path: never sent, never failed, no attempt."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.apps import service
from herald.apps.holds import REASON, Holds
from herald.apps.models import App
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.notifications.models import Delivery, DeliveryState
from herald.queue.announce import publish
from herald.runtime import Runtime
from tests.harness import Herald


async def _only_app(runtime: Runtime) -> App:
    async with runtime.sessions() as session:
        [app] = (await session.scalars(select(App))).all()
    return app


async def _fall_due(runtime: Runtime) -> None:
    """Time passes: every delivery's wait (a schedule, a hold) is over, and the broker's
    delayed entries with it (on Redis the scheduler would move them to the stream)."""
    async with transaction(runtime.sessions) as session:
        rows = await session.execute(
            update(Delivery)
            .values(available_at=utcnow() - timedelta(seconds=1))
            .returning(Delivery.id, Delivery.channel)
        )
        due = [(i, c) for i, c in rows.all()]
    await publish(runtime.broker, due)


async def test_a_disabled_apps_scheduled_send_is_held_when_due_again_and_again(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify(send_at=(utcnow() + timedelta(hours=1)).isoformat())
    assert r.status_code == 202
    app = await _only_app(herald.runtime)
    async with transaction(herald.runtime.sessions) as session:
        await service.disable_app(session, app.key_id)
    for _ in range(2):  # released by the scheduler, then its hold runs out
        await _fall_due(herald.runtime)
        await herald.drain()
        async with herald.runtime.sessions() as session:
            [d] = (await session.scalars(select(Delivery))).all()
        assert (d.state, d.reason, d.attempts, d.unknowns) == (DeliveryState.QUEUED, REASON, 0, 0)
        assert d.available_at > utcnow()
    assert herald.inbox.entries() == []


class _Flaky:
    """An engine that can be taken away."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.down = False

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        if self.down:
            raise OSError("connection refused")
        async with self.engine.connect() as conn:
            yield conn


async def test_a_failed_refresh_keeps_the_last_known_disabled_apps(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        creds = await service.create_app(session, "shop", runtime.pepper)
        other = await service.create_app(session, "other", runtime.pepper)
        await service.disable_app(session, creds.key)
    flaky = _Flaky(runtime.read_engine)
    holds = Holds(cast(AsyncEngine, flaky), refresh=0.0)
    assert await holds.held(creds.app_id) and not await holds.held(other.app_id)
    flaky.down = True
    assert await holds.held(creds.app_id) and not await holds.held(other.app_id)
    flaky.down = False
    async with transaction(runtime.sessions) as session:
        await service.enable_app(session, creds.key)
    assert not await holds.held(creds.app_id)
