"""Client apps: the services that call Herald. Each is isolated from every other."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, JsonType, UtcDateTime
from herald.kit.ids import uuid7


class App(Base):
    __tablename__ = "apps"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Only a keyed hash of the secret is stored; the secret is shown once at creation.
    secret_hash: Mapped[str] = mapped_column(String(128))
    # After a rotation the old secret keeps working until `previous_secret_expires_at`, so
    # the app's deployments can switch over without an outage.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    # The app `herald run` made for local use; a production deployment should not keep one.
    development: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The key the app signs its end users' tokens with, sealed by the Vault: made on first use
    # (the app reads it from the API), and kept until `previous_end_user_key_expires_at`
    # after a rotation, so that tokens already handed out keep working.
    end_user_key: Mapped[str | None] = mapped_column(Text)
    previous_end_user_key: Mapped[str | None] = mapped_column(Text)
    previous_end_user_key_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Web origins whose pages may call the end-user API with this app's tokens (CORS).
    allowed_origins: Mapped[list[str]] = mapped_column(JsonType, default=list, server_default=text("'[]'"))
    # What the hosted preference page lists and how it looks (apps.schemas.CategoryDef, Branding).
    categories: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list, server_default=text("'[]'"))
    branding: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
