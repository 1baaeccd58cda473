"""Activity shapes at the API edge: a notification's timeline and its content."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from herald.kit.channels import Channel
from herald.notifications.schemas import EngagementOut, NotificationOut


class Step(StrEnum):
    """Herald's own steps on a timeline; a provider's receipts and the recipient's engagement
    keep their event kinds (delivered, bounced, opened, clicked...)."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SKIPPED = "skipped"
    ATTEMPT = "attempt"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    REPLAYED = "replayed"


class TimelineItemOut(BaseModel):
    at: datetime
    kind: str = Field(
        description="accepted, scheduled, queued, skipped, attempt, failed, dead_lettered, replayed,"
        " or an event's kind: delivered, undelivered, bounced, complained, opened, clicked, unsubscribed"
    )
    source: str = Field(description="herald, or the provider (account) that reported it")
    delivery_id: uuid.UUID | None = None
    channel: Channel | None = None
    provider: str | None = None
    code: str | None = Field(default=None, description="A skip's or failure's reason, a provider's code")
    detail: str | None = None
    attempt: int | None = Field(default=None, description="An attempt's number")
    outcome: str | None = Field(default=None, description="An attempt's outcome: delivered, retry, permanent...")
    duration_ms: int | None = None
    approximate: bool = Field(
        default=False, description="The time is inferred: the log keeps only a delivery's last replay"
    )


class DeliveryEngagementOut(EngagementOut):
    delivery_id: uuid.UUID


class ContentOut(BaseModel):
    """One delivery's content. `stored`: as sent (an in-app item, as its feed holds it);
    `rendered`: rendered now from the template (or inline content) and the notification's data,
    which is what was sent unless the template or the user changed since (`note` says when
    the template did), and without the tracking links and pixel an email was sent with;
    `unavailable`: neither is possible (`note` says why)."""

    delivery_id: uuid.UUID
    channel: Channel
    source: Literal["stored", "rendered", "unavailable"]
    content: dict[str, Any] | None = None
    template_version: int | None = None
    note: str | None = None


class TimelineOut(BaseModel):
    notification: NotificationOut
    items: list[TimelineItemOut] = Field(description="Oldest first")
    truncated: bool = Field(description="Events past the limit were left out (engagement keeps their counts)")
    engagement: list[DeliveryEngagementOut]
    content: list[ContentOut] | None = Field(default=None, description="Absent with content=false")
