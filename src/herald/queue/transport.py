"""What carries delivery ids to the workers: the log itself, or a transport outside it.

The log (the deliveries table) is the truth; a queue only carries ids. Leasing a delivery to a
worker is not a queue's business but the claim's (`delivery.claim`), written once for every
queue, so a new transport (RabbitMQ, SQS) is publish, receive, ack and delay, and no SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeAlias

from herald.kit.channels import Channel
from herald.queue.embedded import EmbeddedQueue


class Broker(Protocol):
    """What code that queues deliveries needs of any queue: announcing them."""

    # A queue outside the database cannot commit with the log: announcements then also write
    # outbox rows in the request's transaction (`queue.outbox`), which the relay publishes if
    # the request could not.
    uses_outbox: bool

    async def publish(self, batches: Mapping[Channel, Sequence[uuid.UUID]]) -> None:
        """Announce deliveries that are committed `queued` and due now, by channel: a
        request's whole mix is one round trip, not one per channel."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Entry:
    """One message a transport handed to a consumer: a delivery id and the transport's own
    handle on the message, which acks it."""

    delivery_id: uuid.UUID
    receipt: str


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """A transport's own view of a channel's queue, for monitoring (the log has the rest)."""

    lag: int | None  # entries no consumer has received yet; None when the broker cannot tell
    pending: int  # received by a consumer, not yet acked
    delayed: int  # waiting for `promote_due`


class Transport(Broker, Protocol):
    """A carrier outside the log: per-channel queues of delivery ids with consumer groups.

    Delivery is at least once and a message may be a stale duplicate: the claim leases every
    received id in the log, and acks what the log says is settled or unknown.
    """

    async def receive(self, channel: Channel, consumer: str, limit: int, idle: timedelta) -> list[Entry]:
        """Up to `limit` entries for `consumer`: first those another consumer received and left
        unacked for longer than `idle` (it died), then new ones. With nothing to hand out, it
        blocks for a short while of its own (its blocking read is how a worker waits)."""

    async def ack(self, channel: Channel, receipts: Sequence[str]) -> None:
        """Forget entries for good: their outcome is committed, or the log says they are stale."""

    async def delay(self, channel: Channel, due: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        """Carry these ids again, each once its due time has passed and `promote_due` runs."""

    async def promote_due(self, channel: Channel) -> int:
        """Move delayed ids that fell due back onto the channel's queue; returns how many."""

    async def depth(self, channel: Channel) -> QueueDepth:
        """How much of the channel's queue waits, is held, or is delayed: a few cheap reads."""


# The embedded queue is no transport: the deliveries table is the queue, so receiving is the
# claim's own lease of due rows, an outcome's commit is its ack, and a retry's `available_at`
# its delay. Code that must tell the two apart asks `transport_of`.
Queue: TypeAlias = EmbeddedQueue | Transport


def transport_of(queue: Queue) -> Transport | None:
    """The transport carrying the work, or None where the log is the queue."""
    return None if isinstance(queue, EmbeddedQueue) else queue
