"""The claim through the log, one implementation for every queue: the embedded one (the log
itself), Redis streams and the in-memory transport (tests/queue/memory.py), on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, update

from herald.delivery.claim import Claim
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.redis import Keys
from herald.notifications.models import Delivery, DeliveryState
from herald.queue.embedded import EmbeddedQueue
from herald.queue.lease import TAKEN_OVER
from herald.queue.recovery import expire_orphaned_leases
from herald.queue.redis_streams import RedisTransport
from herald.queue.transport import Queue
from herald.runtime import Runtime
from herald.workers.channel import ChannelWorker
from herald.workers.scheduler import promote_due
from tests import backends
from tests.harness import Herald
from tests.queue.memory import MemoryTransport

EMAIL = Channel.EMAIL
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


@pytest.fixture(params=["embedded", "memory", "redis"])
def kind(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """Which queue, and for Redis a key prefix of its own."""
    if request.param != "redis":
        yield request.param, ""
        return
    backends.require_services()
    prefix = backends.redis_prefix()
    yield request.param, prefix
    backends.clear_redis(prefix)


@pytest.fixture
async def queue(kind: tuple[str, str]) -> AsyncIterator[Queue]:
    """A queue of its own, beside the runtime's (whose announcements nothing here reads)."""
    name, prefix = kind
    own: Queue
    if name == "redis":
        own = RedisTransport(aioredis.Redis.from_url(backends.REDIS_URL), Keys(prefix), block_ms=20)
    else:
        own = EmbeddedQueue() if name == "embedded" else MemoryTransport()
    yield own
    await own.close()


@pytest.fixture
def claim(runtime: Runtime, queue: Queue) -> Claim:
    return Claim(runtime.claim.engine, queue)


async def rows(runtime: Runtime, ids: list[uuid.UUID]) -> dict[uuid.UUID, Delivery]:
    async with runtime.sessions() as session:
        return {d.id: d for d in (await session.scalars(select(Delivery).where(Delivery.id.in_(ids)))).all()}


async def test_a_claim_leases_what_was_published_and_hands_it_out_once(
    herald: Herald, runtime: Runtime, claim: Claim, queue: Queue
) -> None:
    first, second = await herald.queued(2)
    await queue.publish({EMAIL: [first, second, first]})  # a duplicate, as a relay's republish makes
    jobs = await claim.take(EMAIL, "w1", 10, MINUTE)
    assert [j.delivery_id for j in jobs] == [first, second]
    leased = await rows(runtime, [first, second])
    assert {(d.state, d.lease_owner) for d in leased.values()} == {(DeliveryState.SENDING, "w1")}
    if runtime.claim.engine.dialect.name == "postgresql":  # leased and loaded in one statement
        assert [j.work.delivery.lease_owner if j.work else None for j in jobs] == ["w1", "w1"]
    assert await claim.take(EMAIL, "w2", 10, MINUTE) == []
    if claim.transport is not None:  # the duplicate is acked; the leased wait for their outcomes
        pending = await claim.transport.receive(EMAIL, "w3", 10, timedelta(0))
        assert sorted(e.receipt for e in pending) == sorted(j.receipt or "" for j in jobs)


async def test_entries_of_settled_or_unknown_deliveries_are_stale_and_acked_away(
    herald: Herald, claim: Claim, queue: Queue
) -> None:
    [delivery] = await herald.queued(1)
    await herald.drain()
    assert len(herald.inbox.entries()) == 1
    await queue.publish({EMAIL: [delivery, uuid.uuid4()]})
    assert await claim.take(EMAIL, "w1", 10, MINUTE) == []
    if claim.transport is not None:
        assert await claim.transport.receive(EMAIL, "w2", 10, timedelta(0)) == []
    assert len(herald.inbox.entries()) == 1


async def test_an_entry_of_a_delivery_another_worker_holds_stays_pending(
    herald: Herald, claim: Claim, queue: Queue
) -> None:
    [delivery] = await herald.queued(1)
    await queue.publish({EMAIL: [delivery]})
    assert [j.delivery_id for j in await claim.take(EMAIL, "w1", 10, HOUR)] == [delivery]
    await queue.publish({EMAIL: [delivery]})  # announced again, by the reconciler say
    assert await claim.take(EMAIL, "w2", 10, HOUR) == []
    if claim.transport is not None:  # w1 may die: both entries wait to be taken over
        pending = await claim.transport.receive(EMAIL, "w3", 10, timedelta(0))
        assert [e.delivery_id for e in pending] == [delivery, delivery]


async def test_a_dead_workers_delivery_is_taken_over_and_marked(
    herald: Herald, runtime: Runtime, claim: Claim, queue: Queue
) -> None:
    [delivery] = await herald.queued(1)
    await queue.publish({EMAIL: [delivery]})
    await claim.take(EMAIL, "dead", 10, HOUR)
    assert await expire_orphaned_leases(runtime.sessions) == 1  # its lease ran out
    # A lease of 0: a transport hands over the dead consumer's entry at once.
    assert [j.delivery_id for j in await claim.take(EMAIL, "live", 10, timedelta(0))] == [delivery]
    d = (await rows(runtime, [delivery]))[delivery]
    assert (d.state, d.lease_owner, d.reason, d.unknowns) == (DeliveryState.SENDING, "live", TAKEN_OVER, 1)


async def test_a_retry_is_claimed_only_once_due(herald: Herald, runtime: Runtime, claim: Claim, queue: Queue) -> None:
    due, later = await herald.queued(2)
    now = utcnow()
    retries = [(due, now - timedelta(seconds=1)), (later, now + HOUR)]
    await _requeue(runtime, retries)  # as the send path leaves two retries
    if claim.transport is not None:
        await claim.transport.delay(EMAIL, retries)
    assert await promote_due(queue) == (0 if claim.transport is None else 1)
    assert [j.delivery_id for j in await claim.take(EMAIL, "w1", 10, MINUTE)] == [due]


async def _requeue(runtime: Runtime, retries: list[tuple[uuid.UUID, datetime]]) -> None:
    async with runtime.sessions() as session, session.begin():
        for delivery_id, at in retries:
            await session.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(state=DeliveryState.QUEUED, available_at=at)
            )


async def test_a_worker_delivers_through_the_queue_with_the_shared_claim(
    herald: Herald, runtime: Runtime, claim: Claim, queue: Queue
) -> None:
    deliveries = await herald.queued(3)
    worker = ChannelWorker(
        EMAIL, claim, runtime.pipeline, runtime.recorder, concurrency=8, claim_batch=8, lease=30.0, poll_interval=0.02
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        await queue.publish({EMAIL: deliveries})
        async with asyncio.timeout(15):
            while {d.state for d in (await rows(runtime, deliveries)).values()} != {DeliveryState.DELIVERED}:
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await run
    assert sorted(m.key or "" for m in herald.inbox.entries()) == sorted(d.hex for d in deliveries)
    if claim.transport is not None:  # each entry acked once its outcome was committed
        assert await claim.transport.receive(EMAIL, "w2", 10, timedelta(0)) == []
