"""Every SQL statement about users and devices."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.kit.clock import utcnow
from herald.kit.db import upsert_insert
from herald.preferences.models import Preference
from herald.recipients.card import ContactCard, DeviceCard
from herald.recipients.models import Device, Suppression, User


async def get_user(session: AsyncSession, app_id: uuid.UUID, user_id: str) -> User | None:
    return await session.get(User, (app_id, user_id))


async def get_users(session: AsyncSession, app_id: uuid.UUID, user_ids: set[str]) -> dict[str, User]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(User).where(User.app_id == app_id, User.user_id.in_(user_ids)))
    return {u.user_id: u for u in rows}


async def list_devices(
    session: AsyncSession, app_id: uuid.UUID, user_id: str, *, active_only: bool = False
) -> list[Device]:
    stmt = select(Device).where(Device.app_id == app_id, Device.user_id == user_id)
    if active_only:
        stmt = stmt.where(Device.active.is_(True))
    return list((await session.scalars(stmt.order_by(Device.created_at))).all())


async def active_devices_of(session: AsyncSession, app_id: uuid.UUID, user_ids: set[str]) -> dict[str, list[Device]]:
    out: dict[str, list[Device]] = {u: [] for u in user_ids}
    if not user_ids:
        return out
    rows = await session.scalars(
        select(Device)
        .where(Device.app_id == app_id, Device.user_id.in_(user_ids), Device.active.is_(True))
        .order_by(Device.created_at)
    )
    for d in rows:
        out[d.user_id].append(d)
    return out


async def find_device_by_token(session: AsyncSession, app_id: uuid.UUID, platform: str, token: str) -> Device | None:
    return await session.scalar(
        select(Device).where(Device.app_id == app_id, Device.platform == platform, Device.token == token)
    )


async def delete_user(session: AsyncSession, app_id: uuid.UUID, user_id: str) -> bool:
    result = await session.execute(delete(User).where(User.app_id == app_id, User.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def retire_device(session: AsyncSession, device_id: uuid.UUID, reason: str) -> None:
    """A dead token is never used again; the row stays so the retirement can be audited."""
    await session.execute(
        update(Device)
        .where(Device.id == device_id, Device.active.is_(True))
        .values(active=False, retired_reason=reason[:200], retired_at=utcnow())
    )


async def load_cards(
    session: AsyncSession, keys: list[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], ContactCard | None]:
    """Cards for many users in three queries per app: users, their active devices, their preferences."""
    out: dict[tuple[uuid.UUID, str], ContactCard | None] = dict.fromkeys(keys)
    by_app: dict[uuid.UUID, set[str]] = {}
    for app_id, user_id in keys:
        by_app.setdefault(app_id, set()).add(user_id)
    for app_id, user_ids in by_app.items():
        users = await get_users(session, app_id, user_ids)
        if not users:
            continue
        devices = await active_devices_of(session, app_id, set(users))
        prefs: dict[str, dict[tuple[str, str], bool]] = {u: {} for u in users}
        for p in await session.scalars(
            select(Preference).where(Preference.app_id == app_id, Preference.user_id.in_(list(users)))
        ):
            prefs[p.user_id][(p.channel, p.category)] = p.enabled
        for uid, user in users.items():
            out[(app_id, uid)] = ContactCard(
                user_id=user.user_id,
                name=user.name,
                email=user.email,
                phone=user.phone,
                locale=user.locale,
                timezone=user.timezone,
                attributes=dict(user.attributes or {}),
                devices=tuple(
                    DeviceCard(id=d.id, platform=d.platform, token=d.token, subscription=d.subscription)
                    for d in devices[uid]
                ),
                preferences=prefs[uid],
            )
    return out


async def suppress(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Suppress addresses for their apps (`app_id`, `channel`, `address`, `reason`,
    `created_at`), in one statement; one already suppressed keeps its first reason."""
    if rows:
        # The rows as parameters of one statement compiled once per process (`.values(rows)`
        # compiled anew for every batch of receipts that carried a suppression), in key order:
        # two writers suppressing the same addresses never wait on each other in a cycle.
        ordered = sorted(rows, key=lambda r: (str(r["app_id"]), r["channel"], r["address"]))
        await conn.execute(upsert_insert(conn, Suppression).on_conflict_do_nothing(), ordered)


async def suppressions_of(
    session: AsyncSession, app_id: uuid.UUID, addresses: list[tuple[str, str]]
) -> list[Suppression]:
    """The app's suppressions of these (channel, address) pairs: read by primary key."""
    if not addresses:
        return []
    rows = await session.scalars(
        select(Suppression).where(
            Suppression.app_id == app_id,
            tuple_(Suppression.channel, Suppression.address).in_(addresses),
        )
    )
    return list(rows)


async def unsuppress(session: AsyncSession, app_id: uuid.UUID, channel: str, address: str) -> bool:
    """Lift a suppression: the address is used again from the next delivery on."""
    stmt = delete(Suppression).where(
        Suppression.app_id == app_id, Suppression.channel == channel, Suppression.address == address
    )
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]
