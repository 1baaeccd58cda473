"""What a channel is: the one interface every channel module implements.

A channel says what content its templates hold, where a notification for a recipient goes
(at intake, and again at send time, since addresses change), how its content renders, what
message that makes, and how the message leaves Herald: through the providers (with routing,
failover and circuit breakers) or through a sink of its own (the in-app feed). Everything
else in Herald asks the registry; nothing else branches on a channel's name.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from herald.kit.channels import Channel
from herald.recipients.card import ContactCard, DeviceCard

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from herald.config import RouteSettings
    from herald.delivery.results import AttemptRecord
    from herald.feed.events import FeedEvents
    from herald.integrations.service import Account
    from herald.providers.outcome import Outcome
    from herald.templates.render import Fields


@dataclass(frozen=True, slots=True)
class Recipient:
    """Whoever a notification is for, with what is known of them at intake: a stored user's
    card, or an inline recipient's addresses."""

    user_id: str | None
    email: str | None
    phone: str | None
    locale: str | None
    name: str | None
    attributes: dict[str, Any]
    devices: tuple[DeviceCard, ...] = ()


@dataclass(frozen=True, slots=True)
class Destination:
    """One delivery's destination as planned at intake: an address, or a device."""

    address: str | None = None
    device: DeviceCard | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a delivery goes now, as resolved at send time."""

    address: str | None
    device: DeviceCard | None = None


@dataclass(frozen=True, slots=True)
class Nowhere:
    """A delivery that has no destination any more, and why (a skip reason)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Meta:
    """What a composed message carries besides its content and destination."""

    key: str  # the delivery's idempotency key
    notification_id: uuid.UUID
    category: str | None
    critical: bool
    name: str | None  # the recipient's name, where a protocol has a slot for it


@dataclass(frozen=True, slots=True)
class Sent:
    """What sending one message came to: each call made, the outcome, and who made it."""

    calls: list[AttemptRecord]
    outcome: Outcome
    provider: str


class Sender(Protocol):
    """How a channel's messages leave Herald."""

    async def send(self, app_id: uuid.UUID, message: Any, unknowns: int) -> Sent: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SenderDeps:
    """What a channel with a sink of its own may need to build it."""

    engine: AsyncEngine
    feed_events: FeedEvents


@dataclass(frozen=True, slots=True)
class Routes:
    """A message's providers, in the order to try them: the app's own accounts, else the
    deployment's providers by name."""

    accounts: list[Account]
    defaults: list[str]


class ChannelSpec(Protocol):
    """One channel, whole. `Rendered` and the message are the channel's own types."""

    @property
    def name(self) -> Channel: ...

    @property
    def content(self) -> type[BaseModel]:
        """One template's content for this channel: its API schema and its validation."""

    @property
    def address_skip(self) -> str:
        """The skip reason when a delivery finds no destination at send time."""

    def destinations(self, recipient: Recipient) -> list[Destination]:
        """Where a notification for `recipient` goes: one delivery per destination."""

    def target(self, address: str | None, device_id: uuid.UUID | None, card: ContactCard | None) -> Target | None:
        """Where a delivery goes now: its own address (an inline recipient's), else the user's
        current one from `card`; None when there is none."""

    def render(self, content: dict[str, Any], fields: Fields) -> Any:
        """This channel's content rendered, every field through `fields` (bounded)."""

    def compose(self, rendered: Any, target: Target, meta: Meta) -> Any:
        """The message for a provider or sink: rendered content, addressed and keyed."""

    def routes(self, message: Any, defaults: RouteSettings, accounts: Sequence[Account]) -> Routes:
        """For a channel sent through providers: which of the app's accounts of this channel
        (given by priority) take this message, in order, and the deployment's providers for
        it by name. A channel with a sink has none."""

    def sink(self, deps: SenderDeps) -> Sender | None:
        """A channel's own sender (the in-app feed), or None to go through the providers."""
