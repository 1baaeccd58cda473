"""A batch published to a channel's stream reaches a waiting worker as one batch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.channels import Channel
from herald.kit.redis import Keys, connect
from herald.queue.redis_streams import GROUP, RedisBroker
from tests import backends


async def _blocked_readers(redis: Any) -> int:
    clients = await redis.client_list()
    return sum(1 for c in clients if "b" in c.get("flags", "") and c.get("cmd") == "xreadgroup")


@pytest.fixture
def prefix() -> Iterator[str]:
    backends.require_services()
    prefix = backends.redis_prefix()
    yield prefix
    backends.clear_redis(prefix)


async def test_a_blocked_reader_is_woken_with_the_whole_batch(prefix: str) -> None:
    """Redis serves a blocked XREADGROUP after each command: published as separate XADDs, a
    batch woke the worker with its first entry only, and the rest waited a whole claim."""
    redis = connect(backends.REDIS_URL)
    try:
        # publish() does not touch the log; a claim would.
        broker = RedisBroker(redis, cast(AsyncEngine, None), Keys(prefix))
        stream = broker.keys.stream(Channel.EMAIL.value)
        await broker._group(stream)
        before = await _blocked_readers(redis)
        reader = asyncio.create_task(redis.xreadgroup(GROUP, "w", {stream: ">"}, count=500, block=10_000))
        for _ in range(500):  # until Redis holds the reader blocked (not a timing assumption)
            if await _blocked_readers(redis) > before:
                break
            await asyncio.sleep(0.01)
        ids = [uuid.uuid4() for _ in range(50)]
        await broker.publish(Channel.EMAIL, ids)
        [(_, entries)] = await reader
        assert [uuid.UUID(hex=fields[b"d"].decode()) for _, fields in entries] == ids
    finally:
        await redis.aclose()
