"""In-app: a title, a body, an optional link and data, into the user's feed inside the app's
product (`herald.feed`), shown live by the embeddable inbox. Only stored users have a feed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from herald.channels.base import Destination, Meta, Recipient, Routes, Sender, SenderDeps, Target
from herald.config import RouteSettings
from herald.feed.sink import FeedSink
from herald.integrations.service import Account
from herald.kit.channels import Channel
from herald.kit.errors import RenderFailed
from herald.notifications.models import SkipReason
from herald.recipients.card import ContactCard
from herald.templates.render import Fields

IN_APP = Channel.register("in_app")
TITLE_MAX, BODY_MAX, URL_MAX = 1_000, 10_000, 2_000


class InAppContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=TITLE_MAX)
    body: str = Field(max_length=BODY_MAX)
    action_url: str | None = Field(default=None, max_length=URL_MAX, description="Where a click on the item goes")
    data: dict[str, str] = Field(default_factory=dict, description="Free key-values for the app's own inbox UI")


@dataclass(frozen=True, slots=True)
class RenderedInApp:
    title: str
    body: str
    action_url: str | None
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InAppMessage:
    key: str
    notification_id: uuid.UUID
    user_id: str
    title: str
    body: str
    action_url: str | None
    data: dict[str, str]
    category: str | None

    def item(self, app_id: uuid.UUID, now: datetime) -> dict[str, Any]:
        """The feed row it becomes: its id is the delivery's."""
        return {
            "id": uuid.UUID(hex=self.key),
            "app_id": app_id,
            "user_id": self.user_id,
            "notification_id": self.notification_id,
            "category": self.category,
            "title": self.title,
            "body": self.body,
            "action_url": self.action_url,
            "data": self.data,
            "created_at": now,
        }


def _link(url: str | None) -> str | None:
    """Only http(s) URLs and paths: a `javascript:` link would run in the user's browser."""
    if not url:
        return None
    if url.startswith(("https://", "http://", "/")) and not url.startswith("//"):
        return url
    raise RenderFailed("in_app.action_url must be an http(s) URL or a path", field="in_app.action_url")


class InAppChannel:
    name = IN_APP
    content = InAppContent
    address_skip = SkipReason.USER_DELETED.value

    def destinations(self, recipient: Recipient) -> list[Destination]:
        return [Destination(recipient.user_id)] if recipient.user_id else []

    def target(self, address: str | None, device_id: uuid.UUID | None, card: ContactCard | None) -> Target | None:
        return Target(card.user_id) if card else None

    def render(self, content: dict[str, Any], fields: Fields) -> RenderedInApp:
        data = {k: fields.render(v, field=f"in_app.data.{k}", cap=BODY_MAX) for k, v in content.get("data", {}).items()}
        return RenderedInApp(
            title=fields.render(content["title"], field="in_app.title", cap=TITLE_MAX),
            body=fields.render(content["body"], field="in_app.body", cap=BODY_MAX),
            action_url=_link(fields.optional(content.get("action_url"), field="in_app.action_url", cap=URL_MAX)),
            data=data,
        )

    def compose(self, rendered: RenderedInApp, target: Target, meta: Meta) -> InAppMessage:
        assert target.address is not None
        return InAppMessage(
            meta.key,
            meta.notification_id,
            target.address,
            rendered.title,
            rendered.body,
            rendered.action_url,
            rendered.data,
            meta.category,
        )

    def routes(self, message: InAppMessage, defaults: RouteSettings, accounts: Sequence[Account]) -> Routes:
        return Routes([], [])

    def sink(self, deps: SenderDeps) -> Sender | None:
        return FeedSink(deps.engine, deps.feed_events)
