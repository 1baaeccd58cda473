"""Templates: one key, per-channel content, per-locale variants; editable without a deploy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, UtcDateTime


class Template(Base):
    __tablename__ = "templates"

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(500))
    default_locale: Mapped[str] = mapped_column(String(35), default="en")
    # {"channels": {channel: content}, "locales": {locale: {channel: content}}}
    content: Mapped[dict[str, Any]] = mapped_column()
    # Bumped on every edit: compiled templates are cached by (app, key, version).
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
