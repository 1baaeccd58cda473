"""The feed's rules: one user's items, read by the app's backend or by the user, and every
change announced to the user's live streams once it is committed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from herald.feed import repository
from herald.feed.events import FeedEvent, FeedEvents
from herald.feed.schemas import Counts, FeedItemOut, FeedPage, Mark, Status
from herald.kit.clock import utcnow
from herald.kit.errors import NotFound
from herald.kit.ids import parse_cursor
from herald.kit.uow import UnitOfWork


class FeedItemNotFound(NotFound):
    """The feed item does not exist."""

    code = "feed_item_not_found"


async def page(
    uow: UnitOfWork, app_id: uuid.UUID, user_id: str, status: Status, cursor: str | None, limit: int
) -> FeedPage:
    rows = await repository.page(uow.session, app_id, user_id, status, parse_cursor(cursor), limit + 1)
    more = len(rows) > limit
    items = [FeedItemOut.model_validate(r) for r in rows[:limit]]
    counts = await repository.counts(uow.session, app_id, user_id)
    return FeedPage(items=items, next_cursor=items[-1].id.hex if more else None, counts=counts)


async def counts(uow: UnitOfWork, app_id: uuid.UUID, user_id: str) -> Counts:
    return await repository.counts(uow.session, app_id, user_id)


async def mark(
    uow: UnitOfWork,
    events: FeedEvents,
    app_id: uuid.UUID,
    user_id: str,
    ids: Sequence[uuid.UUID] | None,
    what: Mark,
) -> Counts:
    """Set or clear a state on some of the user's items (or all); other users' ids change nothing."""
    changed = await repository.mark(uow.session, app_id, user_id, ids, what, utcnow())
    after = await repository.counts(uow.session, app_id, user_id)
    if changed:
        _announce(uow, events, FeedEvent(app_id, user_id, "counts", after.model_dump()))
    return after


async def delete(uow: UnitOfWork, events: FeedEvents, app_id: uuid.UUID, user_id: str, item_id: uuid.UUID) -> None:
    if not await repository.remove(uow.session, app_id, user_id, item_id):
        raise FeedItemNotFound(field="item_id")
    after = await repository.counts(uow.session, app_id, user_id)
    _announce(uow, events, FeedEvent(app_id, user_id, "counts", after.model_dump()))


def _announce(uow: UnitOfWork, events: FeedEvents, event: FeedEvent) -> None:
    async def hook() -> None:
        await events.publish(event)

    uow.after_commit(hook)
