"""The broker interface: per-channel queues of delivery ids.

The log (the deliveries table) is the truth; a broker only carries work. Whatever a broker
loses, the reconciler finds again in the log. Implementations: the embedded one keeps the
queue in the database itself; the Redis one uses streams with consumer groups.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from herald.kit.channels import Channel

if TYPE_CHECKING:
    from herald.delivery.work import Work


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery. After `claim`, the delivery is `sending` under our lease in the log."""

    delivery_id: uuid.UUID
    receipt: str | None = None  # the broker's own handle (e.g. a stream entry id), for ack
    # What the send path needs, where the broker could read it with the lease itself.
    work: Work | None = None


class Broker(Protocol):
    # A broker outside the database cannot commit with the log: announcements then also
    # write outbox rows in the request's transaction (`queue.outbox`), which the relay
    # publishes if the request could not.
    uses_outbox: bool

    async def publish(self, batches: Mapping[Channel, Sequence[uuid.UUID]]) -> None:
        """Announce deliveries that are committed `queued` and due now, by channel: a
        request's whole mix is one round trip, not one per channel."""

    async def claim(self, channel: Channel, owner: str, limit: int, lease: timedelta) -> list[Job]:
        """Take up to `limit` due deliveries and lease them to `owner` in the log."""

    async def ack(self, channel: Channel, jobs: Sequence[Job]) -> None:
        """Forget jobs whose outcome is committed."""

    async def defer(self, channel: Channel, due: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        """Re-announce deliveries committed back to `queued`, each when it falls due."""

    async def promote_due(self, channel: Channel) -> int:
        """Move deferred deliveries that fell due back onto the queue; returns how many."""

    async def wait(self, channel: Channel, timeout: float) -> None:
        """Return when work may be available, or after `timeout` seconds."""

    async def close(self) -> None: ...
