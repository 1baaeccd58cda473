"""What the send path needs to know about a user, in one cacheable value."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceCard:
    id: uuid.UUID
    platform: str
    token: str
    subscription: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ContactCard:
    """A user's contacts, devices and opt-out rules as of one read of the log."""

    user_id: str
    name: str | None
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str | None
    attributes: dict[str, Any]
    devices: tuple[DeviceCard, ...] = ()
    # (channel, category) -> enabled, with "*" for any.
    preferences: dict[tuple[str, str], bool] = field(default_factory=dict)

    def device(self, device_id: uuid.UUID) -> DeviceCard | None:
        return next((d for d in self.devices if d.id == device_id), None)
