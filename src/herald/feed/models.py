"""A user's in-app feed: one row per in-app delivery, with the states the user gives it.

The row's id is the delivery's: writing it is idempotent, so a resend after an unknown
outcome (the sink is at-least-once like every channel) can never show an item twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, UtcDateTime


class FeedItem(Base):
    __tablename__ = "feed_items"
    __table_args__ = (
        # The user's data: erased with the user.
        ForeignKeyConstraint(["app_id", "user_id"], ["users.app_id", "users.user_id"], ondelete="CASCADE"),
        # A feed is read newest first, by its owner; ids are time-ordered.
        Index("ix_feed_items_owner", "app_id", "user_id", "id"),
        # The badge: unread items not archived, counted on every change.
        Index(
            "ix_feed_items_unread",
            "app_id",
            "user_id",
            postgresql_where=text("read_at IS NULL AND archived_at IS NULL"),
            sqlite_where=text("read_at IS NULL AND archived_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[str] = mapped_column(String(200))
    notification_id: Mapped[uuid.UUID] = mapped_column()
    category: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    action_url: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
