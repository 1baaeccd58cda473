"""The delivery timeline: one row per event, and per delivery and kind of engagement, a summary.

An event is recorded once: its `dedupe` value (the provider's own event id, or what makes the
event unique) is unique per delivery, so a webhook a provider retries, or two streams of the
same pixel, count once. The delivery's `outcome` columns hold the highest verdict so far.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, UtcDateTime
from herald.kit.ids import uuid7


class DeliveryEvent(Base):
    __tablename__ = "delivery_events"
    __table_args__ = (UniqueConstraint("delivery_id", "dedupe"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    app_id: Mapped[uuid.UUID] = mapped_column()
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # Who reported it: a provider (its kind or the app's account name), or "herald" for
    # engagement Herald tracked itself.
    source: Mapped[str] = mapped_column(String(32))
    code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    dedupe: Mapped[str] = mapped_column(String(200))


class Engagement(Base):
    """How a recipient engaged with one delivery: first and last time, and how often."""

    __tablename__ = "engagements"

    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column()
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)
