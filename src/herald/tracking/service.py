"""Tracking's rules: what an engagement event is (and when two are one), what an unsubscribe
link may write, and which deliveries an end user may report on.

Dedupe: an open or click is recorded once per delivery per minute (a click per link per
minute), `opened:2025-01-31T12:34` or `clicked:2025-01-31T12:34:<link hash>`. So a mail
client's proxy fetching the pixel twice, a scanner following a link right after delivery, a
retried request or a double click count once, while a reader coming back later counts again:
the delivery's engagement summary keeps first, last and count. Rollups count unique opens
and clicks from `first_of_kind`, whatever the dedupe window.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from herald.cache.interface import ContactCache
from herald.events.kinds import EventKind
from herald.events.service import EventLog, Incoming
from herald.feed.models import FeedItem
from herald.kit.channels import Channel
from herald.kit.errors import NotFound, UserNotFound, ValidationFailed
from herald.kit.uow import UnitOfWork
from herald.notifications.models import Delivery, Notification
from herald.preferences import service as preferences
from herald.tracking.recorder import EngagementRecorder
from herald.tracking.tokens import TokenCodec

SOURCE = "herald"


class InvalidTrackingLink(NotFound):
    """The link is not valid (forged, altered, truncated, or from before a key change)."""

    code = "invalid_tracking_link"


class DeliveryNotFound(NotFound):
    """The delivery does not exist, or is not one of yours."""

    code = "delivery_not_found"


class NotReportable(ValidationFailed):
    """Herald tracks this delivery's opens and clicks itself (email): clients do not report them."""

    code = "engagement_not_reportable"


def dedupe_for(kind: str, at: datetime, url: str | None = None) -> str:
    """What makes an engagement event unique: its kind and minute, and for a click its link."""
    minute = at.strftime("%Y-%m-%dT%H:%M")
    if url is None:
        return f"{kind}:{minute}"
    return f"{kind}:{minute}:{hashlib.sha256(url.encode()).hexdigest()[:32]}"


def engagement(delivery_id: uuid.UUID, kind: str, at: datetime, url: str | None = None) -> Incoming:
    return Incoming(delivery_id, kind, SOURCE, at, dedupe_for(kind, at, url), detail=url)


@dataclass(slots=True)
class TrackingService:
    """What the API's tracking routes use: the token key, the event log and the buffer."""

    codec: TokenCodec
    events: EventLog
    recorder: EngagementRecorder

    async def close(self) -> None:
        await self.recorder.close()


@dataclass(frozen=True, slots=True)
class Subscription:
    """What an unsubscribe link points at: one delivery's user, channel and category."""

    delivery_id: uuid.UUID
    app_id: uuid.UUID
    channel: str
    user_id: str | None
    category: str | None
    critical: bool

    @property
    def can_unsubscribe(self) -> bool:
        return self.user_id is not None and not self.critical


async def subscription(uow: UnitOfWork, delivery_id: uuid.UUID) -> Subscription | None:
    stmt = (
        select(
            Delivery.id,
            Delivery.app_id,
            Delivery.channel,
            Notification.user_id,
            Notification.category,
            Notification.critical,
        )
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.id == delivery_id)
    )
    row = (await uow.session.execute(stmt)).one_or_none()
    return Subscription(*row) if row is not None else None


async def unsubscribe(uow: UnitOfWork, cache: ContactCache, events: EventLog, sub: Subscription, at: datetime) -> bool:
    """Opt the user out of the delivery's category on its channel, and record `unsubscribed`
    (once per delivery); False when there is nothing to unsubscribe from (a critical
    notification, an inline recipient, a user since deleted)."""
    if not sub.can_unsubscribe:
        return False
    assert sub.user_id is not None
    try:
        await preferences.opt_out(uow, cache, sub.app_id, sub.user_id, sub.channel, sub.category)
    except UserNotFound:
        return False
    kind = EventKind.UNSUBSCRIBED.value
    await events.record(uow, [Incoming(sub.delivery_id, kind, SOURCE, at, kind, detail=sub.category)])
    return True


async def report(
    uow: UnitOfWork,
    events: EventLog,
    app_id: uuid.UUID,
    user_id: str,
    delivery_id: uuid.UUID,
    kind: str,
    url: str | None,
    at: datetime,
) -> bool:
    """An end user's own open or click; whether it was new (not within the dedupe window)."""
    stmt = (
        select(Delivery.channel)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.id == delivery_id, Notification.app_id == app_id, Notification.user_id == user_id)
    )
    channel = (await uow.session.execute(stmt)).scalar_one_or_none()
    if channel is None:
        raise DeliveryNotFound(field="delivery_id")
    if channel == Channel.EMAIL:
        # The pixel and the links count email already: a client's report would count twice.
        raise NotReportable(field="delivery_id")
    summary = await events.record(uow, [engagement(delivery_id, kind, at, url)], app_id=app_id)
    return bool(summary.recorded)


async def unread_of(uow: UnitOfWork, app_id: uuid.UUID, user_id: str, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Those of `ids` that are the user's own feed items and not read yet."""
    stmt = select(FeedItem.id).where(
        FeedItem.app_id == app_id, FeedItem.user_id == user_id, FeedItem.id.in_(list(ids)), FeedItem.read_at.is_(None)
    )
    return list((await uow.session.scalars(stmt)).all())


async def feed_read(
    uow: UnitOfWork, events: EventLog, app_id: uuid.UUID, ids: Sequence[uuid.UUID], at: datetime
) -> None:
    """Reading an in-app item is opening its delivery (a feed item's id is its delivery's)."""
    if ids:
        await events.record(uow, [engagement(i, EventKind.OPENED.value, at) for i in ids], app_id=app_id)
