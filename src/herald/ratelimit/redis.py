"""The shared rate limiter: the same GCRA as the embedded one, run atomically in Lua."""

from __future__ import annotations

import redis.asyncio as aioredis

from herald.kit.redis import Keys

# KEYS[1] = the key's theoretical arrival time; ARGV = limit, period (seconds). "now" is
# Redis' own clock, so every worker host agrees on it.
# Mirrors herald.ratelimit.gcra.gcra exactly. Returns -1 when allowed, else the wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_at = tat - period + interval
if now < allowed_at then
  return tostring(allowed_at - now)
end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil((tat + interval - now) * 1000) + 1000)
return '-1'
"""


class RedisRateLimiter:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._script = redis.register_script(_GCRA)

    async def acquire(self, key: str, limit: int, period: float) -> float | None:
        wait = float(await self._script(keys=[self.keys.rate(key)], args=[limit, period]))
        return None if wait < 0 else wait

    async def close(self) -> None:
        return None
