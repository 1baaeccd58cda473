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


# Inline devices' ids: uuid5 under this namespace, of "platform:token".
_INLINE = uuid.UUID("5d1c3b1e-6f5a-4f27-9a43-2f0c8f6f2a10")


def inline_device(platform: str, token: str) -> DeviceCard:
    """An inline recipient's device. It has no row, so its id is derived from its token: the
    delivery records it at intake and the send finds the same device again (`inline_card`)."""
    return DeviceCard(uuid.uuid5(_INLINE, f"{platform}:{token}"), platform, token, None)


def inline_card(recipient: dict[str, Any] | None) -> ContactCard | None:
    """The card of an inline recipient with a device (as its notification stores it), for the
    send to resolve the device from; None for one without (its address is on the delivery)."""
    device = (recipient or {}).get("device")
    if not device:
        return None
    return ContactCard("", None, None, None, None, None, {}, (inline_device(device["platform"], device["token"]),))
