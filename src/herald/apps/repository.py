"""Every SQL statement about apps: lookups, the disabled set, held work, what a delete removes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.apps.models import App
from herald.events.models import DeliveryEvent
from herald.integrations.models import Integration
from herald.kit.db import Base
from herald.notifications.models import Delivery, DeliveryState, Notification
from herald.recipients.models import Device, Suppression, User
from herald.templates.models import Layout, Template, Version
from herald.webhooks.models import WebhookEndpoint

# What deleting an app takes with it (the foreign keys cascade), as an operator would name it.
# Each table is counted by an index that leads with app_id; preferences and attempts go with
# the users and deliveries they belong to.
OWNED: dict[str, type[Base]] = {
    "users": User,
    "devices": Device,
    "templates": Template,
    "template and layout versions": Version,
    "layouts": Layout,
    "notifications": Notification,
    "deliveries": Delivery,
    "provider accounts": Integration,
    "suppressed addresses": Suppression,
    "delivery events": DeliveryEvent,
    "webhook endpoints": WebhookEndpoint,
}


async def by_ref(session: AsyncSession, ref: str) -> App | None:
    """The app whose key, or id, is `ref`."""
    try:
        app_id = uuid.UUID(ref)
    except ValueError:
        return await session.scalar(select(App).where(App.key_id == ref))
    return await session.get(App, app_id)


async def by_key(session: AsyncSession, key: str) -> App | None:
    return await session.scalar(select(App).where(App.key_id == key))


async def set_end_user_key_if_none(session: AsyncSession, app_id: uuid.UUID, sealed: str) -> None:
    """Give the app this sealed key unless a concurrent request gave it one first."""
    stmt = (
        update(App)
        .where(App.id == app_id, App.end_user_key.is_(None))
        .values(end_user_key=sealed)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)


async def allowed_origins_of_enabled(session: AsyncSession) -> set[str]:
    """Every origin some enabled app allows."""
    rows = await session.scalars(select(App.allowed_origins).where(App.active.is_(True)))
    return {origin for origins in rows.all() for origin in origins}


async def all_apps(session: AsyncSession) -> list[App]:
    return list((await session.scalars(select(App).order_by(App.created_at))).all())


async def disabled_ids(conn: AsyncConnection) -> list[uuid.UUID]:
    return list((await conn.scalars(select(App.id).where(App.active.is_(False)))).all())


async def make_due(session: AsyncSession, app_id: uuid.UUID, reason: str, now: datetime) -> list[tuple[uuid.UUID, str]]:
    """Make the app's deliveries queued for `reason` due now, that reason gone; their (id,
    channel) pairs."""
    stmt = (
        update(Delivery)
        .where(Delivery.app_id == app_id, Delivery.state == DeliveryState.QUEUED, Delivery.reason == reason)
        .values(available_at=now, updated_at=now, reason=None)
        .returning(Delivery.id, Delivery.channel)
        .execution_options(synchronize_session=False)
    )
    return [(i, c) for i, c in (await session.execute(stmt)).all()]


async def in_flight(session: AsyncSession, app_id: uuid.UUID, now: datetime) -> int:
    """The app's deliveries leased to a live worker: possibly at a provider right now."""
    stmt = (
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.app_id == app_id, Delivery.state == DeliveryState.SENDING, Delivery.lease_until > now)
    )
    return int(await session.scalar(stmt) or 0)


async def footprint(session: AsyncSession, app_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    for label, model in OWNED.items():
        table = model.__table__
        stmt = select(func.count()).select_from(table).where(table.c.app_id == app_id)
        counts[label] = int(await session.scalar(stmt) or 0)
    return counts


async def remove(session: AsyncSession, app_id: uuid.UUID) -> None:
    await session.execute(delete(App).where(App.id == app_id).execution_options(synchronize_session=False))


async def development_keys(conn: AsyncConnection) -> list[str]:
    """The keys of enabled apps that `herald run` made for local use."""
    rows = await conn.scalars(select(App.key_id).where(App.development.is_(True), App.active.is_(True)))
    return list(rows.all())
