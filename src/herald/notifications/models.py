"""The notification log: the truth from which every queue can be rebuilt.

A notification is the caller's request; it fans out into one delivery per channel x
destination; every provider call on a delivery leaves one attempt row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, UtcDateTime
from herald.kit.ids import uuid7


def idempotency_key(delivery_id: uuid.UUID) -> str:
    """A delivery's provider-side key: fixed at creation, reused on every attempt and replay."""
    return delivery_id.hex


class DeliveryState(StrEnum):
    """The delivery state machine.

    scheduled -> queued -> sending -> delivered | failed | skipped | dead, and sending ->
    queued again for a retry or a deferral. Only the last four are final.
    """

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEAD = "dead"

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.SKIPPED, DeliveryState.DEAD})


class SkipReason(StrEnum):
    OPTED_OUT = "opted_out"
    NO_ADDRESS = "no_address"
    RATE_LIMITED = "rate_limited"
    NO_CONTENT = "no_content"
    DEVICE_RETIRED = "device_retired"
    USER_DELETED = "user_deleted"


@dataclass(frozen=True, slots=True)
class NotificationRow:
    """A `notifications` row as plain data (same names as the columns): what the intake
    inserts and what the send path renders from, without the ORM's instrumentation."""

    id: uuid.UUID
    app_id: uuid.UUID
    event_id: str
    user_id: str | None
    recipient: dict[str, Any] | None
    template: str | None
    data: dict[str, Any]
    content: dict[str, Any] | None
    category: str | None
    critical: bool
    send_at: datetime | None
    created_at: datetime


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("app_id", "event_id"),
        # Led by user_id, not app_id: an index led by app_id competes with the (app_id, event_id)
        # unique index for the dedup lookup, and without statistics the planner may pick it
        # and scan every notification of the app. The id at the end: a user's activity is read
        # newest first from the index, in order, whatever the number of their notifications.
        Index("ix_notifications_user_app", "user_id", "app_id", "id"),
        # The activity search (migration 0014): an app's log newest first, and a time range
        # (as an id range: ids are time-ordered), then by template or category, in id order.
        # Partial on `id IS NOT NULL` (every row), so that only a query saying so (the search
        # does) can use it: led by app_id, it would compete with the unique index for the
        # dedup lookup, as above, and without statistics PostgreSQL picks it.
        Index(
            "ix_notifications_app_id",
            "app_id",
            "id",
            postgresql_where=text("id IS NOT NULL"),
            sqlite_where=text("id IS NOT NULL"),
        ),
        Index(
            "ix_notifications_template",
            "template",
            "app_id",
            "id",
            postgresql_where=text("template IS NOT NULL"),
            sqlite_where=text("template IS NOT NULL"),
        ),
        Index(
            "ix_notifications_category",
            "category",
            "app_id",
            "id",
            postgresql_where=text("category IS NOT NULL"),
            sqlite_where=text("category IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    # An inline recipient: {"email", "phone", "device", "locale", "name"} for people who are not users.
    recipient: Mapped[dict[str, Any] | None] = mapped_column()
    template: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Inline content, same shape as a template's per-channel content.
    content: Mapped[dict[str, Any] | None] = mapped_column()
    category: Mapped[str | None] = mapped_column(String(100))
    critical: Mapped[bool] = mapped_column(default=False)
    send_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # The embedded queue's claim, the scheduler's release and the reconciler's sweep all
        # walk these by state first. On PostgreSQL they hold only rows that can still be
        # claimed (migration 0003), so settling a delivery touches neither.
        Index(
            "ix_deliveries_claim",
            "state",
            "channel",
            "available_at",
            postgresql_where=text("state IN ('queued', 'scheduled')"),
        ),
        Index("ix_deliveries_lease", "state", "lease_until", postgresql_where=text("state = 'sending'")),
        # The activity search's delivery filters (migration 0014): the notifications with a
        # delivery in a state, on a channel or through a provider, in notification order.
        # Provider is null until a provider is called: those rows stay out of its index.
        Index("ix_deliveries_app_state", "app_id", "state", "notification_id"),
        Index("ix_deliveries_channel", "app_id", "channel", "notification_id"),
        Index(
            "ix_deliveries_provider",
            "app_id",
            "provider",
            "notification_id",
            postgresql_where=text("provider IS NOT NULL"),
            sqlite_where=text("provider IS NOT NULL"),
        ),
        # Dead letters by channel for the queue snapshot (`monitoring`): they pile up until
        # replayed, and no other index leads with the state on PostgreSQL. SQLite's full claim
        # index counts them already, and there a partial index on the state slowed every
        # UPDATE of the state twofold (migration 0018).
        Index("ix_deliveries_dead", "channel", postgresql_where=text("state = 'dead'")).ddl_if(dialect="postgresql"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[uuid.UUID | None] = mapped_column()
    platform: Mapped[str | None] = mapped_column(String(16))
    # Set for inline recipients; for users the address is looked up at send time, so a
    # changed phone number is used on the very next send.
    address: Mapped[str | None] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Calls whose outcome was unknown (sent, no answer): each later resend may duplicate.
    unknowns: Mapped[int] = mapped_column(Integer, default=0)
    # A replayed dead letter gets a fresh retry budget from `retry_base` attempts on.
    replays: Mapped[int] = mapped_column(Integer, default=0)
    retry_base: Mapped[int] = mapped_column(Integer, default=0)
    replayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What the provider reported after accepting it (`events.kinds.OUTCOME_RANK`: delivered,
    # undelivered, bounced, complained...), the highest verdict so far, with its code and time.
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_code: Mapped[str | None] = mapped_column(String(64))
    outcome_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The template version that was live when the delivery was accepted (or the one a test
    # send rendered); None for inline content.
    template_version: Mapped[int | None] = mapped_column(Integer)

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.id)


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[uuid.UUID] = mapped_column()
    number: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
