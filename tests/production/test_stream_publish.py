"""A batch published to a channel's stream reaches a waiting worker as one batch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import cast

import pytest
import redis.asyncio as aioredis

from herald.kit.channels import Channel
from herald.kit.redis import Keys
from herald.queue.redis_streams import RedisTransport
from tests import backends


@pytest.fixture
def prefix() -> Iterator[str]:
    backends.require_services()
    prefix = backends.redis_prefix()
    yield prefix
    backends.clear_redis(prefix)


async def _reader_blocked(redis: aioredis.Redis, name: str) -> bool:
    """Whether our reader is the one Redis holds blocked (other test processes block too)."""
    clients = await redis.client_list()
    return any(c.get("name") == name and "b" in c.get("flags", "") for c in clients)


async def test_a_blocked_reader_is_woken_with_the_whole_batch(prefix: str) -> None:
    """Redis serves a blocked XREADGROUP after each command: published as separate XADDs, a
    batch woke the worker with its first entry only, and the rest waited a whole claim."""
    name = f"{prefix}-reader".replace(":", "-")
    redis = aioredis.Redis.from_url(backends.REDIS_URL, client_name=name)
    try:
        transport = RedisTransport(redis, Keys(prefix), block_ms=10_000)
        await transport._group(transport.keys.stream(Channel.EMAIL.value))
        reader = asyncio.create_task(transport.receive(Channel.EMAIL, "w", 500, timedelta(seconds=30)))
        for _ in range(500):  # until Redis holds the reader blocked (not a timing assumption)
            if await _reader_blocked(redis, name):
                break
            await asyncio.sleep(0.01)
        ids = [uuid.uuid4() for _ in range(50)]
        await transport.publish({Channel.EMAIL: ids})
        assert [e.delivery_id for e in await reader] == ids
    finally:
        await redis.aclose()


async def test_publishing_survives_a_flushed_script_cache(prefix: str) -> None:
    """A restarted Redis has forgotten the publish script: it is loaded again, nothing lost."""
    redis = aioredis.Redis.from_url(backends.REDIS_URL)
    try:
        transport = RedisTransport(redis, Keys(prefix))
        stream = transport.keys.stream(Channel.SMS.value)
        first, second = [uuid.uuid4() for _ in range(3)], [uuid.uuid4() for _ in range(2)]
        await transport.publish({Channel.SMS: first})
        await redis.script_flush()
        await transport.publish({Channel.SMS: second})
        # Without decode_responses the client reads bytes; redis-py's types also allow str and None.
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], await redis.xrange(stream))
        assert [uuid.UUID(hex=f[b"d"].decode()) for _, f in entries] == first + second
    finally:
        await redis.aclose()


async def test_a_mix_of_channels_is_one_call_each_id_on_its_own_stream(prefix: str) -> None:
    """A request's push and email deliveries go out in one script call (one round trip), and
    each stream gets exactly its own ids, in order; a channel with none adds nothing."""
    redis = aioredis.Redis.from_url(backends.REDIS_URL)
    try:
        transport = RedisTransport(redis, Keys(prefix))
        calls: list[int] = []
        script = transport._publish

        async def counted(**kwargs: object) -> object:
            calls.append(1)
            return await script(**kwargs)  # type: ignore[arg-type]

        transport._publish = counted  # type: ignore[assignment]
        batches = {
            Channel.PUSH: [uuid.uuid4() for _ in range(4)],
            Channel.EMAIL: [uuid.uuid4() for _ in range(2)],
            Channel.SMS: [],
        }
        await transport.publish(batches)
        assert len(calls) == 1
        for channel, ids in batches.items():
            stream = transport.keys.stream(channel.value)
            entries = cast(list[tuple[bytes, dict[bytes, bytes]]], await redis.xrange(stream))
            assert [uuid.UUID(hex=f[b"d"].decode()) for _, f in entries] == ids, channel
    finally:
        await redis.aclose()
