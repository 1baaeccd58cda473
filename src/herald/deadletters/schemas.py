"""Dead-letter shapes at the API edge."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from herald.kit.bounds import Timestamp
from herald.kit.channels import Channel
from herald.notifications.schemas import AttemptOut


class DeadLetterOut(BaseModel):
    id: uuid.UUID
    notification_id: uuid.UUID
    event_id: str
    channel: Channel
    reason: str | None
    attempts: int
    replays: int
    provider: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptOut] | None = None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None


class ReplayFilter(BaseModel):
    """Which dead letters a bulk replay takes; at least one criterion is required."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=200)
    provider: str | None = Field(default=None, min_length=1, max_length=32)
    since: Timestamp | None = Field(default=None, description="Died at or after this instant")
    until: Timestamp | None = Field(default=None, description="Died before this instant")
    ids: list[uuid.UUID] | None = Field(default=None, max_length=1000)
    limit: int = Field(default=10_000, ge=1, le=100_000)


class ReplayOut(BaseModel):
    replayed: int
    ids: list[uuid.UUID]
