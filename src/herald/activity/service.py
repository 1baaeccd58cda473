"""The Activity views: a notification's timeline, and a search's rows for an export.

Reads only; each is served by the log's indexes (migration 0014) and a handful of
statements, whatever the size of the log.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.activity import content, repository, timeline
from herald.activity.schemas import DeliveryEngagementOut, TimelineOut
from herald.events import repository as events_repository
from herald.kit.errors import NotificationNotFound
from herald.kit.uow import UnitOfWork, unit_of_work
from herald.notifications import repository as log
from herald.notifications.models import Delivery, Notification
from herald.notifications.search import Search
from herald.notifications.service import present, search_page

# Events on one timeline: past this the list is cut (and says so); the engagement summaries
# still count every open and click.
MAX_EVENTS = 1000
# Rows an export reads per statement: each page is its own short transaction, so a slow
# download holds no connection between pages; 200 rows and their deliveries are read and
# written out in about 10 ms (bench/activity.py), the answer's first bytes with them.
EXPORT_PAGE = 200


async def notification_timeline(
    uow: UnitOfWork, app_id: uuid.UUID, notification_id: uuid.UUID, *, with_content: bool = True
) -> TimelineOut:
    """Everything that happened to one notification of the app, oldest first."""
    session = uow.session
    n = await log.get(session, app_id, notification_id)
    if n is None:
        raise NotificationNotFound()
    deliveries = (await log.deliveries_of(session, [n.id]))[n.id]
    ids = [d.id for d in deliveries]
    attempts = await log.attempts_of(session, ids)
    events = await repository.events(session, ids, MAX_EVENTS + 1)
    engagement = await events_repository.engagements(session, ids)
    return TimelineOut(
        notification=present(n, deliveries),
        items=timeline.build(n, deliveries, attempts, events[:MAX_EVENTS]),
        truncated=len(events) > MAX_EVENTS,
        engagement=[
            DeliveryEngagementOut(delivery_id=d, kind=e.kind, count=e.count, first_at=e.first_at, last_at=e.last_at)
            for d in ids
            for e in engagement.get(d, [])
        ],
        content=await content.contents(session, n, deliveries) if with_content else None,
    )


ExportPage = list[tuple[Notification, list[Delivery]]]


async def export_pages(
    sessions: async_sessionmaker[AsyncSession],
    app_id: uuid.UUID,
    search: Search,
    *,
    cursor: uuid.UUID | None,
    max_rows: int,
    page: int | None = None,
) -> AsyncIterator[ExportPage]:
    """The search's notifications with their deliveries, newest first, a page at a time, at
    most `max_rows` in all; each page read in a transaction of its own."""
    left, size = max_rows, page or EXPORT_PAGE
    while left > 0:
        async with unit_of_work(sessions) as uow:
            rows, more = await search_page(uow, app_id, search, limit=min(size, left), cursor=cursor)
            deliveries = await log.deliveries_of(uow.session, [n.id for n in rows])
        yield [(n, deliveries[n.id]) for n in rows]
        left -= len(rows)
        if not more or not rows:
            return
        cursor = rows[-1].id
