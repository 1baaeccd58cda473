"""Every statement on the feed: one user's items, their states, their counts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.feed.models import FeedItem
from herald.feed.schemas import Counts, Mark, Status
from herald.kit.db import upsert_insert

# What each mark writes: the column, and whether it sets the time or clears it.
MARKS: dict[str, tuple[str, bool]] = {
    "read": ("read_at", True),
    "unread": ("read_at", False),
    "seen": ("seen_at", True),
    "archive": ("archived_at", True),
    "unarchive": ("archived_at", False),
}


def _owner(app_id: uuid.UUID, user_id: str) -> ColumnElement[bool]:
    return and_(FeedItem.app_id == app_id, FeedItem.user_id == user_id)


def _status(status: Status) -> list[ColumnElement[bool]]:
    if status == "archived":
        return [FeedItem.archived_at.is_not(None)]
    where: list[ColumnElement[bool]] = [FeedItem.archived_at.is_(None)]
    if status == "unread":
        where.append(FeedItem.read_at.is_(None))
    elif status == "unseen":
        where.append(FeedItem.seen_at.is_(None))
    return where


async def insert(on: AsyncConnection, row: dict[str, Any]) -> bool:
    """Write one item; False if it was there already (a resend of the same delivery)."""
    stmt = upsert_insert(on, FeedItem).values(**row).on_conflict_do_nothing(index_elements=["id"])
    return bool((await on.execute(stmt)).rowcount)


_ITEMS: Table = FeedItem.__table__  # type: ignore[assignment]
# PostgreSQL: the item and its owner's counts in one statement, atomic by itself, so the
# sink runs it without a transaction: one round trip where BEGIN, INSERT, SELECT and COMMIT
# were four (the SSE bench measured the in-app worker spending most of its CPU, and its
# connections most of their time, on those). The counts read the snapshot from before the
# insert: `insert_counted` adds the new item to them.
_INSERT_COUNTED_PG = text(
    """
    WITH created AS (
        INSERT INTO feed_items (id, app_id, user_id, notification_id, category, title, body, action_url, data,
                                created_at)
        VALUES (:id, :app_id, :user_id, :notification_id, :category, :title, :body, :action_url, :data,
                :created_at)
        ON CONFLICT (id) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM created),
           count(*) FILTER (WHERE read_at IS NULL),
           count(*) FILTER (WHERE seen_at IS NULL)
    FROM feed_items
    WHERE app_id = :app_id AND user_id = :user_id AND archived_at IS NULL
    """
).bindparams(
    *(bindparam(c.name, type_=c.type) for c in _ITEMS.columns if c.name not in ("seen_at", "read_at", "archived_at"))
)


async def insert_counted(on: AsyncConnection, row: dict[str, Any]) -> tuple[bool, Counts]:
    """PostgreSQL: `insert`, then the owner's `counts`, in one statement."""
    created, unread, unseen = (await on.execute(_INSERT_COUNTED_PG, row)).one()
    return bool(created), Counts(unread=unread + created, unseen=unseen + created)


async def page(
    session: AsyncSession, app_id: uuid.UUID, user_id: str, status: Status, before: uuid.UUID | None, limit: int
) -> list[FeedItem]:
    """Newest first, `limit` items older than `before`."""
    where = [_owner(app_id, user_id), *_status(status)]
    if before is not None:
        where.append(FeedItem.id < before)
    rows = await session.scalars(select(FeedItem).where(*where).order_by(FeedItem.id.desc()).limit(limit))
    return list(rows.all())


async def after(session: AsyncSession, app_id: uuid.UUID, user_id: str, last: uuid.UUID, limit: int) -> list[FeedItem]:
    """Items newer than `last`, oldest first: what a reconnecting stream missed."""
    stmt = select(FeedItem).where(_owner(app_id, user_id), FeedItem.id > last).order_by(FeedItem.id).limit(limit)
    return list((await session.scalars(stmt)).all())


async def counts(on: AsyncSession | AsyncConnection, app_id: uuid.UUID, user_id: str) -> Counts:
    unread = func.count().filter(FeedItem.read_at.is_(None))
    unseen = func.count().filter(FeedItem.seen_at.is_(None))
    stmt = select(unread, unseen).where(_owner(app_id, user_id), FeedItem.archived_at.is_(None))
    row = (await on.execute(stmt)).one()
    return Counts(unread=row[0], unseen=row[1])


async def mark(
    session: AsyncSession, app_id: uuid.UUID, user_id: str, ids: Sequence[uuid.UUID] | None, what: Mark, now: datetime
) -> int:
    """Set or clear one state on the user's items (`ids`, or all of them); how many changed."""
    column, setting = MARKS[what]
    target = getattr(FeedItem, column)
    where = [_owner(app_id, user_id), target.is_(None) if setting else target.is_not(None)]
    if ids is not None:
        where.append(FeedItem.id.in_(list(ids)))
    stmt = update(FeedItem).where(*where).values({column: now if setting else None})
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def remove(session: AsyncSession, app_id: uuid.UUID, user_id: str, item_id: uuid.UUID) -> bool:
    result = await session.execute(delete(FeedItem).where(_owner(app_id, user_id), FeedItem.id == item_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
