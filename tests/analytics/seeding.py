"""Deliveries and events for the analytics tests: rows written directly (so the tests do not
depend on what the intake and the recorder publish), events recorded through the real EventLog."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.analytics.consumer import Rollups
from herald.analytics.models import COUNTERS
from herald.analytics.repository import TABLES
from herald.apps.models import App
from herald.events.repository import Target
from herald.events.service import EventLog, Incoming, Recorded, Summary
from herald.kit.db import transaction
from herald.kit.ids import uuid7
from herald.kit.uow import UnitOfWork
from herald.notifications.models import Delivery, Notification
from herald.runtime import Runtime


async def app_ids(runtime: Runtime) -> list[uuid.UUID]:
    """The apps of the runtime, oldest first (the `client` fixture's app, then `other_client`'s)."""
    async with runtime.sessions() as session:
        return list((await session.scalars(select(App.id).order_by(App.created_at, App.name))).all())


async def delivery(
    runtime: Runtime,
    app_id: uuid.UUID,
    created_at: datetime,
    *,
    template: str | None = "welcome",
    channel: str = "email",
    provider: str | None = "smtp",
) -> uuid.UUID:
    """A notification and its delivery, accepted at `created_at`."""
    async with transaction(runtime.sessions) as session:
        n = Notification(id=uuid7(), app_id=app_id, event_id=uuid.uuid4().hex, user_id="42", template=template,
                         data={}, created_at=created_at)  # fmt: skip
        session.add(n)
        await session.flush()
        d = Delivery(id=uuid7(), app_id=app_id, notification_id=n.id, channel=channel, state="delivered",
                     provider=provider, created_at=created_at)  # fmt: skip
        session.add(d)
    return d.id


def event(
    delivery_id: uuid.UUID, kind: str, at: datetime, dedupe: str | None = None, code: str | None = None
) -> Incoming:
    return Incoming(delivery_id, kind, "test", at, dedupe or f"{kind}:{at.isoformat()}", code=code)


async def record(runtime: Runtime, events: list[Incoming]) -> Summary:
    """Record `events` in one transaction, the rollups as the log's only consumer."""
    log = EventLog([Rollups()])
    async with runtime.sessions() as session, session.begin():
        return await log.record(UnitOfWork(session), events)


def recorded(
    app_id: uuid.UUID,
    kind: str,
    created_at: datetime,
    *,
    template: str | None = "welcome",
    version: int | None = None,
    channel: str = "email",
    provider: str | None = "smtp",
    changed: bool = True,
    first: bool = True,
    code: str | None = None,
) -> Recorded:
    """A Recorded as the EventLog hands it over, for a delivery that need not exist."""
    target = Target(uuid.uuid4(), app_id, uuid.uuid4(), channel, "42", None, template, version, provider, created_at)
    return Recorded(Incoming(target.delivery_id, kind, "test", created_at, kind, code=code), target, changed, first)


async def publish(engine: AsyncEngine, events: list[Recorded]) -> None:
    async with engine.begin() as conn:
        await Rollups().recorded(conn, events)


async def fold(runtime: Runtime) -> int:
    """Fold every staged increment into the rollups, as a worker's folder does; how many rows."""
    return await runtime.folder().once()


async def rows(runtime: Runtime, table: str = "hourly") -> list[dict[str, Any]]:
    """Every row of a rollup table (named as in repository.TABLES), once what was staged is
    folded: its key and its non-zero counters; the bucket under "bucket", the dimensions under
    template, version, channel and provider."""
    t = TABLES[table]
    await fold(runtime)
    async with runtime.sessions() as session:
        found = (await session.execute(select(t.model.__table__))).mappings().all()
    out = []
    for r in found:
        key: dict[str, Any] = {"bucket": r[t.bucket], "template": r["template"], "version": r["template_version"],
                               "channel": r["channel"], "provider": r["provider"]}  # fmt: skip
        out.append(key | {c: r[c] for c in COUNTERS if r[c]})
    return sorted(out, key=lambda r: (str(r["bucket"]), r["template"], r["channel"], r["provider"]))
