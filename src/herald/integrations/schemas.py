"""Integration shapes at the API edge: secrets go in, never come out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from herald.kit.bounds import Int32
from herald.kit.jsonvalues import JsonObject


class IntegrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="apns, fcm, webpush, twilio, vonage, smtp, sendgrid or mailchimp")
    priority: Int32 = Field(default=0, description="Lower goes first; the next is the failover")
    countries: list[str] = Field(default_factory=list, description='E.164 prefixes preferred here, e.g. ["+44"]')
    enabled: bool = True
    config: JsonObject = Field(description="The provider's settings and credentials")


class IntegrationOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    channel: str
    priority: int
    countries: list[str]
    enabled: bool
    config: dict[str, Any] = Field(description="Secrets are masked")
    created_at: datetime
    updated_at: datetime
    callback_url: str | None = Field(
        default=None,
        description="Where this account's provider posts its receipts (Twilio, Vonage, SendGrid, Mailchimp):"
        " absolute once HERALD_API__PUBLIC_URL is set, else the path",
    )
