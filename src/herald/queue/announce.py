"""Telling the broker about deliveries that became due, the one way every caller should.

With an in-database queue, a wake-up after commit is enough. With an external broker, the
announcement is also an outbox row in the caller's transaction (`queue.outbox`), so a crash
after commit cannot lose it. Callers that hold no transaction (scheduler, reconciler) publish
directly: anything they fail to publish is found again in the log.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from herald.kit.channels import Channel
from herald.kit.uow import UnitOfWork
from herald.queue.transport import Broker

if TYPE_CHECKING:
    from herald.queue.outbox import Outbox


def by_channel(pairs: Iterable[tuple[uuid.UUID, str]]) -> dict[Channel, list[uuid.UUID]]:
    grouped: dict[Channel, list[uuid.UUID]] = defaultdict(list)
    for delivery_id, channel in pairs:
        grouped[Channel(channel)].append(delivery_id)
    return grouped


async def publish(broker: Broker, pairs: Iterable[tuple[uuid.UUID, str]]) -> None:
    """Publish (delivery id, channel) pairs now, every channel in one call."""
    batches = by_channel(pairs)
    if batches:
        await broker.publish(batches)


async def announce(uow: UnitOfWork, broker: Broker, outbox: Outbox | None, pairs: list[tuple[uuid.UUID, str]]) -> None:
    """Announce deliveries queued in this unit of work, durably and only once it commits."""
    if not pairs:
        return
    rows = await outbox.write(uow.session, pairs) if broker.uses_outbox and outbox is not None else []
    announce_written(uow, broker, outbox, pairs, rows)


def announce_written(
    uow: UnitOfWork,
    broker: Broker,
    outbox: Outbox | None,
    pairs: list[tuple[uuid.UUID, str]],
    outbox_rows: list[int],
) -> None:
    """Publish once `uow` commits; with an outbox, `outbox_rows` are the pairs' rows in it."""
    if broker.uses_outbox:
        assert outbox is not None, "a broker outside the database needs the outbox"
        outbox.publish_after_commit(uow, pairs, outbox_rows)
    else:
        announce_after_commit(uow, broker, pairs)


def announce_after_commit(uow: UnitOfWork, broker: Broker, pairs: list[tuple[uuid.UUID, str]]) -> None:
    """For a broker that reads the log itself: a wake-up once the unit of work commits."""
    if not pairs:
        return

    async def hook() -> None:
        await publish(broker, pairs)

    uow.after_commit(hook)
