"""The adapter interface every provider implements."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class Lookup(Protocol):
    """An adapter that can ask its provider whether a message was already accepted.

    After an unknown outcome (the request went out, no answer came back) the send path asks
    this before resending, so a resend happens only when the provider has no record of the
    first send. `since` is when the delivery was created: no earlier message can be it.

    Returns Delivered (with the provider's id) when the provider has the message on its way
    or sent; None when it has no record (or only one that reached nobody), so a resend is
    safe; UnknownOutcome when the lookup itself failed. Never raises for a provider problem.
    """

    async def lookup(self, message: OutboundMessage, since: datetime | None = None) -> Outcome | None: ...


def lookup_of(adapter: Adapter) -> Lookup | None:
    """The adapter's lookup, if its provider's API allows one."""
    return adapter if isinstance(adapter, Lookup) else None


def kind_of(adapter: Adapter) -> str:
    """The provider an adapter speaks ("twilio"), whichever account it serves.

    An app's own account is named by the app (`adapter.name`, e.g. "uk-sms"); metric labels
    use the kind instead, so they never carry an app's names and stay a small, fixed set.
    The class attribute is the kind: only an instance is renamed after its account.
    """
    kind = getattr(type(adapter), "name", None)
    return kind if isinstance(kind, str) else "other"
