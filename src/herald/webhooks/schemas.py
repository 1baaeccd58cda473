"""Webhook shapes at the API edge: a secret comes out once, at creation and at rotation."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from herald.kit.bounds import Timestamp


class WebhookType(StrEnum):
    """What an endpoint can subscribe to (`consumer.webhook_type` maps Herald's events)."""

    ACCEPTED = "accepted"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    DEAD = "dead"


Url = Field(min_length=1, max_length=2048, description="http(s) URL Herald posts to; egress rules apply")
Events = Field(min_length=1, max_length=len(WebhookType), description="The event types it is sent")


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Url
    events: list[WebhookType] = Events
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class EndpointPatch(BaseModel):
    """Only the fields given change; enabling again clears an automatic disable."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[WebhookType] | None = Field(default=None, min_length=1, max_length=len(WebhookType))
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None = Field(description="Why Herald disabled it (None: enabled, or disabled by you)")
    disabled_at: datetime | None
    failing_since: datetime | None = Field(description="Since when every attempt has failed")
    previous_secret_until: datetime | None = Field(description="The rotated-out secret signs too until then")
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_...: shown this once; verify signatures with it")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(
        default=86_400, ge=0, le=7 * 86_400, description="How long messages are signed with the old secret too"
    )


class SecretOut(BaseModel):
    secret: str = Field(description="The new whsec_ secret: shown this once")
    previous_secret_until: datetime | None


class ReplayIn(BaseModel):
    """One message by its id, or every message of a time range (created in [since, until))."""

    model_config = ConfigDict(extra="forbid")

    message_id: uuid.UUID | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ReplayIn:
        if self.message_id is not None:
            if self.since is not None or self.until is not None:
                raise ValueError("give message_id, or since and until, not both")
        elif self.since is None or self.until is None:
            raise ValueError("give message_id, or both since and until")
        elif self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class ReplayOut(BaseModel):
    queued: int


class MessageOut(BaseModel):
    id: uuid.UUID = Field(description="Sent as webhook-id, the same on every attempt and replay")
    type: str
    state: str = Field(description="pending, delivered or failed (the retry ladder ran out)")
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    payload: dict[str, Any]


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class AttemptOut(BaseModel):
    id: uuid.UUID
    message_id: uuid.UUID
    number: int
    status_code: int | None = Field(description="The endpoint's HTTP status; None when no answer came")
    latency_ms: int
    error: str | None
    attempted_at: datetime


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    next_cursor: str | None
