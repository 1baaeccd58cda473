"""Redis connections and key naming shared by the Redis-backed parts."""

from __future__ import annotations

import redis.asyncio as aioredis


def connect(url: str) -> aioredis.Redis:
    """A pooled client; bytes in and out, so stream ids and ids round-trip exactly."""
    return aioredis.Redis.from_url(url, decode_responses=False, health_check_interval=30)


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
