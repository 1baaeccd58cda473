"""Users (the caller's own recipients) and their push devices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, UtcDateTime
from herald.kit.ids import uuid7


class User(Base):
    __tablename__ = "users"

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (
        ForeignKeyConstraint(["app_id", "user_id"], ["users.app_id", "users.user_id"], ondelete="CASCADE"),
        Index("ix_devices_owner", "app_id", "user_id"),
        Index("ix_devices_token", "app_id", "platform", "token", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    app_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(16))
    # APNs/FCM registration token, or the web-push endpoint URL.
    token: Mapped[str] = mapped_column(Text)
    # Web push: {"endpoint", "keys": {"p256dh", "auth"}}.
    subscription: Mapped[dict[str, Any] | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    retired_reason: Mapped[str | None] = mapped_column(String(200))
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Suppression(Base):
    """An email address or phone number a provider declared dead (or that replied STOP).

    Checked at send time: a dead address is never used again until it is removed here.
    """

    __tablename__ = "suppressions"

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
