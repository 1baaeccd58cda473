"""Notification shapes at the API edge."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from herald.api.schemas import ErrorBody
from herald.channels.registry import Contents
from herald.kit.bounds import Timestamp
from herald.kit.channels import Channel
from herald.kit.jsonvalues import JsonObject


class InlineDevice(BaseModel):
    """A phone that is no stored user's (a test send's, say): its platform and token. A web
    push subscription is registered on a user instead."""

    model_config = ConfigDict(extra="forbid")

    platform: Literal["ios", "android"]
    token: str = Field(max_length=4096, description="The APNs device token (hex) or the FCM registration token")


class InlineRecipient(BaseModel):
    """Someone who is not a stored user: addresses travel with the notification."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    device: InlineDevice | None = Field(default=None, description="A push device, by its token")
    name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=35)


class NotificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=200, description="Unique per app: a repeat creates nothing")
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    recipient: InlineRecipient | None = None
    template: str | None = Field(default=None, max_length=200)
    data: JsonObject = Field(default_factory=dict, description="The template's variables")
    content: Contents | None = Field(default=None, description="Inline content instead of a template")
    channels: list[Channel] | None = Field(default=None, min_length=1)
    category: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    critical: bool = Field(default=False, description="Ignores opt-outs and rate limits")
    send_at: Timestamp | None = Field(default=None, description="Deliver at this instant; an offset is required")


# Parsed one by one by the endpoint, so that each item gets its own result; documented as
# what each must be.
BatchItem = Annotated[dict[str, Any], WithJsonSchema({"$ref": "#/components/schemas/NotificationIn"})]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notifications: list[BatchItem] = Field(min_length=1)


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    provider: str
    outcome: str
    code: str | None
    detail: str | None
    started_at: datetime
    duration_ms: int


class EventOut(BaseModel):
    """One event on a delivery's timeline after Herald handed it over."""

    model_config = ConfigDict(from_attributes=True)

    kind: str = Field(description="delivered, undelivered, bounced, complained, opened, clicked, unsubscribed")
    source: str = Field(description="Who reported it: the provider, or herald for its own tracking")
    code: str | None = Field(description="The provider's code (a bounce: hard or soft)")
    detail: str | None
    occurred_at: datetime


class EngagementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str = Field(description="opened, clicked or unsubscribed")
    count: int
    first_at: datetime
    last_at: datetime


class DeliveryOut(BaseModel):
    id: uuid.UUID
    channel: Channel
    platform: str | None
    device_id: uuid.UUID | None
    state: str
    reason: str | None
    attempts: int
    provider: str | None
    provider_message_id: str | None
    available_at: datetime
    finished_at: datetime | None
    outcome: str | None = Field(
        default=None,
        description="What the provider reported after accepting it, the furthest verdict so far:"
        " delivered, undelivered, bounced (outcome_code hard), soft_bounced, complained",
    )
    outcome_code: str | None = None
    outcome_at: datetime | None = None
    template_version: int | None = Field(default=None, description="The template version rendered (None: inline)")
    attempt_log: list[AttemptOut] | None = None
    events: list[EventOut] | None = Field(default=None, description="Receipts and engagement, in time order")
    engagement: list[EngagementOut] | None = None


class NotificationOut(BaseModel):
    id: uuid.UUID
    event_id: str
    user_id: str | None
    template: str | None
    category: str | None
    critical: bool
    send_at: datetime | None
    created_at: datetime
    status: str
    deliveries: list[DeliveryOut]


class BatchItemOut(BaseModel):
    index: int
    status: int
    notification: NotificationOut | None = None
    error: ErrorBody | None = None


class BatchOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItemOut]


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
