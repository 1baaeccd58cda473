"""Push: a title, a body and data, to each of the user's active devices, by platform's provider."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from herald.channels.base import Destination, Meta, Recipient, Routes, Sender, SenderDeps, Target
from herald.config import RouteSettings
from herald.integrations.service import Account
from herald.kit.channels import Channel
from herald.notifications.models import SkipReason
from herald.providers.messages import PushMessage
from herald.providers.registry import KINDS
from herald.recipients.card import ContactCard
from herald.templates.limits import PUSH_FIELD_MAX_CHARS, check_push
from herald.templates.render import Fields


class PushContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=1000)
    body: str = Field(max_length=4000)
    data: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RenderedPush:
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)


class PushChannel:
    name = Channel.PUSH
    content = PushContent
    address_skip = SkipReason.DEVICE_RETIRED.value

    def destinations(self, recipient: Recipient) -> list[Destination]:
        return [Destination(device=d) for d in recipient.devices]

    def target(self, address: str | None, device_id: uuid.UUID | None, card: ContactCard | None) -> Target | None:
        device = card.device(device_id) if card and device_id else None
        return Target(None, device) if device else None

    def render(self, content: dict[str, Any], fields: Fields) -> RenderedPush:
        cap = PUSH_FIELD_MAX_CHARS
        data = {k: fields.render(v, field=f"push.data.{k}", cap=cap) for k, v in content.get("data", {}).items()}
        title = fields.render(content["title"], field="push.title", cap=cap)
        body = fields.render(content["body"], field="push.body", cap=cap)
        check_push(title, body, data)
        return RenderedPush(title=title, body=body, data=data)

    def compose(self, rendered: RenderedPush, target: Target, meta: Meta) -> PushMessage:
        device = target.device
        assert device is not None
        # Marketing may wait for the device's next wake-up; everything else is time-sensitive.
        priority = "high" if meta.critical or meta.category != "marketing" else "normal"
        return PushMessage(
            key=meta.key,
            platform=device.platform,
            token=device.token,
            title=rendered.title,
            body=rendered.body,
            data=rendered.data,
            subscription=device.subscription,
            priority=priority,
            category=meta.category,
        )

    def routes(self, message: PushMessage, defaults: RouteSettings, accounts: Sequence[Account]) -> Routes:
        """By the device's platform: an app's accounts of a kind that speaks to it."""
        own = [a for a in accounts if message.platform in KINDS[a.kind].platforms]
        return Routes(own, list(defaults.push.get(message.platform, ())))

    def sink(self, deps: SenderDeps) -> Sender | None:
        return None
