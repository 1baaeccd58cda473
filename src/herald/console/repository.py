"""Every SQL statement of the console's own tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.apps.models import App
from herald.console.models import ConsoleLoginThrottle, ConsoleMembership, ConsoleSession, ConsoleUser


async def user_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ConsoleUser)) or 0)


async def app_ids(session: AsyncSession) -> list[uuid.UUID]:
    return list((await session.scalars(select(App.id).order_by(App.created_at))).all())


async def user_by_email(session: AsyncSession, email_key: str) -> ConsoleUser | None:
    return await session.scalar(select(ConsoleUser).where(ConsoleUser.email_key == email_key))


async def memberships(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[uuid.UUID, str, str]]:
    """(app id, app name, role) of every app the user is a member of, by app name."""
    rows = await session.execute(
        select(App.id, App.name, ConsoleMembership.role)
        .join(ConsoleMembership, ConsoleMembership.app_id == App.id)
        .where(ConsoleMembership.user_id == user_id)
        .order_by(App.name, App.id)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def membership(session: AsyncSession, user_id: uuid.UUID, app_id: uuid.UUID) -> ConsoleMembership | None:
    return await session.get(ConsoleMembership, (user_id, app_id))


async def members(session: AsyncSession, app_id: uuid.UUID) -> list[tuple[ConsoleUser, str]]:
    rows = await session.execute(
        select(ConsoleUser, ConsoleMembership.role)
        .join(ConsoleMembership, ConsoleMembership.user_id == ConsoleUser.id)
        .where(ConsoleMembership.app_id == app_id)
        .order_by(ConsoleUser.email_key)
    )
    return [(r[0], r[1]) for r in rows]


async def owner_count(session: AsyncSession, app_id: uuid.UUID, *, lock: bool = False) -> int:
    """The app's owners; `lock` holds their rows (PostgreSQL) so that two owners removing
    each other at once cannot both succeed."""
    query = select(ConsoleMembership.user_id).where(
        ConsoleMembership.app_id == app_id, ConsoleMembership.role == "owner"
    )
    if lock:
        query = query.with_for_update()
    return len((await session.scalars(query)).all())


async def session_by_token(session: AsyncSession, token_hash: str) -> tuple[ConsoleSession, ConsoleUser] | None:
    row = (
        await session.execute(
            select(ConsoleSession, ConsoleUser)
            .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
            .where(ConsoleSession.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def touch_session(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(update(ConsoleSession).where(ConsoleSession.id == session_id).values(last_seen_at=now))


async def revoke_sessions(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def drop_dead_sessions(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    """A user's sessions past their absolute expiry or revoked: kept no longer than that."""
    await session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.user_id == user_id,
            (ConsoleSession.expires_at <= now) | ConsoleSession.revoked_at.is_not(None),
        )
    )


async def throttles(session: AsyncSession, keys: list[str]) -> list[ConsoleLoginThrottle]:
    rows = await session.scalars(
        select(ConsoleLoginThrottle).where(ConsoleLoginThrottle.key.in_(keys)).with_for_update()
    )
    return list(rows.all())


async def clear_throttle(session: AsyncSession, key: str) -> None:
    await session.execute(delete(ConsoleLoginThrottle).where(ConsoleLoginThrottle.key == key))
