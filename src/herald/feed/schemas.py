"""Feed shapes at the API edge, for the app's backend and for the end user alike."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["all", "unread", "unseen", "archived"]
# What a client may do to items, by name (the end point's last segment).
Mark = Literal["read", "unread", "seen", "archive", "unarchive"]


class FeedItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    notification_id: uuid.UUID
    category: str | None
    title: str
    body: str
    action_url: str | None
    data: dict[str, str]
    created_at: datetime
    seen_at: datetime | None
    read_at: datetime | None
    archived_at: datetime | None


class Counts(BaseModel):
    unread: int = Field(description="Items not read and not archived: the badge")
    unseen: int = Field(description="Items not seen (shown in an opened feed) and not archived")


class FeedPage(BaseModel):
    items: list[FeedItemOut] = Field(description="Newest first")
    next_cursor: str | None
    counts: Counts


class ItemsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class CountsOut(BaseModel):
    counts: Counts
