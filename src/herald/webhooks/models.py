"""An app's webhook endpoints, the messages owed to them, and every attempt to post one.

A message is written in the transaction that recorded its event (the consumer), so what
is owed is exactly what committed; the dispatcher leases due messages through `next_at`
and `lease_owner`, which is how a killed dispatcher's messages come due again.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, JsonType, UtcDateTime
from herald.kit.ids import uuid7


class MessageState:
    PENDING = "pending"  # due at next_at (or leased until then)
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # the retry ladder ran out


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    # The webhook types it is sent (`consumer.TYPES`).
    events: Mapped[list[str]] = mapped_column(JsonType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why and when it was disabled automatically (None: by its app, or enabled).
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Since when every attempt has failed (None: the last one succeeded).
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The signing secret, and after a rotation the one before it, still signed with until
    # `previous_until` so receivers can switch over: both sealed by the Vault.
    sealed_secret: Mapped[str] = mapped_column(Text)
    sealed_previous: Mapped[str | None] = mapped_column(Text)
    previous_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookMessage(Base):
    __tablename__ = "webhook_messages"
    __table_args__ = (
        # The dispatcher's claim; on PostgreSQL only messages still owed are in it.
        Index("ix_webhook_messages_due", "state", "next_at", postgresql_where=text("state = 'pending'")),
        Index("ix_webhook_messages_endpoint", "endpoint_id", "created_at"),
    )

    # Sent as `webhook-id`: the same on every attempt and replay, so receivers dedupe.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    app_id: Mapped[uuid.UUID] = mapped_column()
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(16))
    # The JSON body as sent, kept as text so every attempt sends the same bytes.
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=MessageState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Failed attempts since it was last queued: its place on the retry ladder.
    step: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    app_id: Mapped[uuid.UUID] = mapped_column()
    number: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
