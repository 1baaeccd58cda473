"""Redis connections and key naming shared by the Redis-backed parts."""

from __future__ import annotations

import redis.asyncio as aioredis


def connect(url: str, max_connections: int = 64) -> aioredis.Redis:
    """A pooled client; bytes in and out, so stream ids and ids round-trip exactly.

    The pool blocks when every connection is busy instead of raising (redis-py's default
    pool raises `Too many connections` past 100): hundreds of in-flight sends share a few
    dozen connections, and a burst waits for one rather than losing its follow-up work.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=30, decode_responses=False, health_check_interval=30
    )
    return aioredis.Redis.from_pool(pool)


class Keys:
    """Every Redis key Herald writes, under one prefix, so deployments and tests never collide."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def stream(self, channel: str) -> str:
        return f"{self.prefix}:q:{channel}"

    def delayed(self, channel: str) -> str:
        return f"{self.prefix}:delayed:{channel}"

    def card(self, app_id: object, user_id: str) -> str:
        return f"{self.prefix}:card:{app_id}:{user_id}"

    def card_gen(self, app_id: object, user_id: str) -> str:
        return f"{self.prefix}:cardgen:{app_id}:{user_id}"

    def rate(self, key: str) -> str:
        return f"{self.prefix}:rl:{key}"

    def feed_events(self) -> str:
        return f"{self.prefix}:feed-events"
