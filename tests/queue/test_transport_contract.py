"""What every transport promises the claim, checked on each: Redis streams and the in-memory one.

The embedded queue is no transport (the log is its queue); the claim's own contract, run on
all three, is in tests/delivery/test_claim.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.redis import Keys
from herald.queue.redis_streams import RedisTransport
from herald.queue.transport import Transport
from tests import backends
from tests.queue.memory import MemoryTransport

HOUR = timedelta(hours=1)
EMAIL, SMS = Channel.EMAIL, Channel.SMS


@pytest.fixture(params=["memory", "redis"])
def prefix(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the in-memory transport; for Redis, a key prefix of its own."""
    if request.param == "memory":
        yield None
        return
    backends.require_services()
    prefix = backends.redis_prefix()
    yield prefix
    backends.clear_redis(prefix)


@pytest.fixture
async def transport(prefix: str | None) -> AsyncIterator[Transport]:
    if prefix is None:
        made: Transport = MemoryTransport()
    else:
        made = RedisTransport(aioredis.Redis.from_url(backends.REDIS_URL), Keys(prefix), block_ms=20)
    yield made
    await made.close()


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


async def test_a_publish_reaches_one_consumer_in_order_each_channel_its_own(transport: Transport) -> None:
    email, sms = ids(3), ids(2)
    await transport.publish({EMAIL: email, SMS: sms})
    got = await transport.receive(EMAIL, "a", 10, HOUR)
    assert [e.delivery_id for e in got] == email
    assert len({e.receipt for e in got}) == 3
    assert await transport.receive(EMAIL, "b", 10, HOUR) == []  # handed out once
    assert [e.delivery_id for e in await transport.receive(SMS, "b", 10, HOUR)] == sms


async def test_a_receive_takes_at_most_its_limit(transport: Transport) -> None:
    published = ids(5)
    await transport.publish({EMAIL: published})
    first = await transport.receive(EMAIL, "a", 2, HOUR)
    second = await transport.receive(EMAIL, "a", 2, HOUR)
    assert [e.delivery_id for e in first + second] == published[:4]


async def test_an_entry_left_unacked_is_not_taken_over_within_the_lease(transport: Transport) -> None:
    await transport.publish({EMAIL: ids(1)})
    assert len(await transport.receive(EMAIL, "a", 10, HOUR)) == 1
    assert await transport.receive(EMAIL, "b", 10, HOUR) == []


async def test_a_dead_consumers_entries_are_taken_over_once_idle_past_the_lease(transport: Transport) -> None:
    published = ids(2)
    await transport.publish({EMAIL: published})
    held = await transport.receive(EMAIL, "dead", 10, timedelta(0))
    taken = await transport.receive(EMAIL, "live", 10, timedelta(0))
    assert [(e.delivery_id, e.receipt) for e in taken] == [(e.delivery_id, e.receipt) for e in held]
    await transport.ack(EMAIL, [taken[0].receipt])  # acked by the new owner: gone for good
    assert [e.delivery_id for e in await transport.receive(EMAIL, "next", 10, timedelta(0))] == published[1:]


async def test_acked_entries_are_never_handed_out_again(transport: Transport) -> None:
    await transport.publish({EMAIL: ids(2)})
    got = await transport.receive(EMAIL, "a", 10, timedelta(0))
    await transport.ack(EMAIL, [e.receipt for e in got])
    assert await transport.receive(EMAIL, "b", 10, timedelta(0)) == []


async def test_a_delayed_id_comes_back_once_due_and_promoted(transport: Transport) -> None:
    due, later = ids(2)
    now = utcnow()
    await transport.delay(EMAIL, [(due, now - timedelta(seconds=1)), (later, now + HOUR)])
    assert await transport.receive(EMAIL, "a", 10, HOUR) == []  # not on the queue before its promotion
    assert await transport.promote_due(EMAIL) == 1
    assert [e.delivery_id for e in await transport.receive(EMAIL, "a", 10, HOUR)] == [due]
    assert await transport.promote_due(EMAIL) == 0
