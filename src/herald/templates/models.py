"""Templates and layouts: what sends read (the live row) and their history of versions.

A template's `templates` row is its live version, denormalized: the send path reads one row
by primary key, as it did before templates had versions. Every edit is a version in
`template_versions` (at most one draft and one published per template); publishing copies
the draft's content into the live row. Layouts (shared email frames) follow the same rules,
as versions of kind "layout" and a `layouts` row for the live one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, UtcDateTime


class Kind(StrEnum):
    TEMPLATE = "template"
    LAYOUT = "layout"


class State(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Template(Base):
    __tablename__ = "templates"

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(500))
    default_locale: Mapped[str] = mapped_column(String(35), default="en")
    # The live version's {"channels": {channel: content}, "locales": {locale: {channel: content}}},
    # each email content carrying the live source of the layouts it extends (`layouts`).
    content: Mapped[dict[str, Any]] = mapped_column()
    # The live version's number (compiled templates are cached by their source text).
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Layout(Base):
    """A layout's live version: what publishing a template copies into its email content."""

    __tablename__ = "layouts"

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(500))
    # {"html": source}
    content: Mapped[dict[str, Any]] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Version(Base):
    """One version of a template or a layout, as its author wrote it."""

    __tablename__ = "template_versions"
    __table_args__ = (
        # At most one draft and one live version each; a race between two saves is a 409.
        Index(
            "ux_template_versions_draft",
            "app_id",
            "kind",
            "key",
            unique=True,
            postgresql_where=text("state = 'draft'"),
            sqlite_where=text("state = 'draft'"),
        ),
        Index(
            "ux_template_versions_live",
            "app_id",
            "kind",
            "key",
            unique=True,
            postgresql_where=text("state = 'published'"),
            sqlite_where=text("state = 'published'"),
        ),
    )

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(500))
    default_locale: Mapped[str] = mapped_column(String(35), default="en")
    content: Mapped[dict[str, Any]] = mapped_column()
    # The version this one was restored from, if it was.
    restored_from: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    published_by: Mapped[str | None] = mapped_column(String(320))
