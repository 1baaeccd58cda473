"""Recipient shapes at the API edge."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from herald.kit.jsonvalues import JsonObject


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    locale: str | None = Field(default=None, max_length=35, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    timezone: str | None = Field(default=None, max_length=64)
    attributes: JsonObject = Field(default_factory=dict)


class WebSubscription(BaseModel):
    """A browser PushSubscription, as `subscription.toJSON()` gives it."""

    endpoint: str = Field(max_length=2000, pattern=r"^https?://")
    keys: dict[str, str]


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: Literal["ios", "android", "web"]
    token: str | None = Field(default=None, max_length=4096)
    subscription: WebSubscription | None = None


class DeviceOut(BaseModel):
    id: uuid.UUID
    platform: str
    token: str
    active: bool
    retired_reason: str | None
    last_seen: datetime
    created_at: datetime


class UserOut(BaseModel):
    user_id: str
    name: str | None
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str | None
    attributes: dict[str, Any]
    devices: list[DeviceOut]
    created_at: datetime
    updated_at: datetime
