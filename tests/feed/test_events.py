"""The live feed events' fan-out on Redis: one reader per process, whatever connects at once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest

from herald.feed.events import FeedEvent, RedisFeedEvents
from herald.kit.redis import Keys, connect
from herald.runtime import Runtime
from tests import backends


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_streams_connecting_together_start_one_reader(runtime: Runtime, redis_url: str) -> None:
    events = RedisFeedEvents(connect(backends.REDIS_URL), Keys(redis_url))
    app_id = uuid.uuid4()
    try:
        async with contextlib.AsyncExitStack() as stack:
            subs = await asyncio.gather(
                *(stack.enter_async_context(events.subscribe(app_id, f"u{i}")) for i in range(20))
            )
            readers = [t for t in asyncio.all_tasks() if t.get_name() == "feed-events"]
            await events.publish(FeedEvent(app_id, "u3", "counts", {"unread": 1, "unseen": 1}))
            got = await asyncio.wait_for(subs[3].queue.get(), 10)
        # Every reader delivers every event: a second one would give each stream a copy.
        assert len(readers) == 1
        assert got.counts == {"unread": 1, "unseen": 1}
        assert all(s.queue.empty() for s in subs)
    finally:  # stops every reader, should a second one have started
        await events.close()
        await events.redis.aclose()
