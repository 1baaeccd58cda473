"""The embedded queue: the deliveries table itself, so enqueueing commits with the request.

There is nothing to carry, so this is only the workers' wake-up: a claim leases due rows of
the log directly (`delivery.claim`), an outcome's commit is its ack, and a retry waits in its
row's `available_at`. Other processes on the same PostgreSQL find work by polling.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence

from herald.kit.channels import Channel


class EmbeddedQueue:
    uses_outbox = False

    def __init__(self) -> None:
        self._events: dict[Channel, asyncio.Event] = {}

    def _event(self, channel: Channel) -> asyncio.Event:
        return self._events.setdefault(channel, asyncio.Event())

    async def publish(self, batches: Mapping[Channel, Sequence[uuid.UUID]]) -> None:
        # The rows are already committed as `queued`: waking the channels' workers is all.
        for channel, delivery_ids in batches.items():
            if delivery_ids:
                self._event(channel).set()

    async def wait(self, channel: Channel, timeout: float) -> None:
        """Return when a publish may have brought work, or after `timeout` seconds."""
        event = self._event(channel)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        event.clear()

    async def close(self) -> None:
        for event in self._events.values():
            event.set()
