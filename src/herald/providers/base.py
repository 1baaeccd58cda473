"""The adapter interface every provider implements."""

from __future__ import annotations

from typing import Protocol

from herald.kit.channels import Channel
from herald.providers.messages import OutboundMessage
from herald.providers.outcome import Outcome


class Adapter(Protocol):
    """One provider account, speaking that provider's documented wire protocol.

    `send` never raises for a provider-side problem: every answer, timeout and dropped
    connection becomes an Outcome. Connections are opened lazily and reused.
    """

    name: str
    channel: Channel
    # True when a resend replaces the earlier copy on the device (APNs collapse id, FCM
    # collapse key, web push Topic), so an unknown outcome can be resent without a duplicate.
    collapses_duplicates: bool

    async def send(self, message: OutboundMessage) -> Outcome: ...

    async def close(self) -> None: ...


def kind_of(adapter: Adapter) -> str:
    """The provider an adapter speaks ("twilio"), whichever account it serves.

    An app's own account is named by the app (`adapter.name`, e.g. "uk-sms"); metric labels
    use the kind instead, so they never carry an app's names and stay a small, fixed set.
    The class attribute is the kind: only an instance is renamed after its account.
    """
    kind = getattr(type(adapter), "name", None)
    return kind if isinstance(kind, str) else "other"
