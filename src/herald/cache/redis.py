"""The shared contact cache in Redis, for any number of worker processes.

Every update through the API bumps a per-user generation and deletes the entry after its
commit. A loader stores what it read only if the generation is unchanged, so a read that
raced with an update can never put stale contacts back.

With Redis away the log is read directly: the API's intake uses these cards too, and it
must keep accepting (into the log and the outbox) while Redis restarts.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from herald.cache.interface import CardKey, CardLoader
from herald.kit.redis import Keys
from herald.recipients.card import ContactCard, DeviceCard

_STORE_IF_CURRENT = """
local gen = redis.call('GET', KEYS[2]) or '0'
if gen == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
  return 1
end
return 0
"""
log = logging.getLogger(__name__)
_MISSING = b"-"  # a cached "no such user", so a deleted user costs no database read per send


def dump_card(card: ContactCard | None) -> bytes:
    if card is None:
        return _MISSING
    return orjson.dumps(
        {
            "user_id": card.user_id,
            "name": card.name,
            "email": card.email,
            "phone": card.phone,
            "locale": card.locale,
            "timezone": card.timezone,
            "attributes": card.attributes,
            "devices": [[str(d.id), d.platform, d.token, d.subscription] for d in card.devices],
            "preferences": [[ch, cat, on] for (ch, cat), on in card.preferences.items()],
        }
    )


def load_card(raw: bytes) -> ContactCard | None:
    if raw == _MISSING:
        return None
    d: dict[str, Any] = orjson.loads(raw)
    return ContactCard(
        user_id=d["user_id"],
        name=d["name"],
        email=d["email"],
        phone=d["phone"],
        locale=d["locale"],
        timezone=d["timezone"],
        attributes=d["attributes"],
        devices=tuple(DeviceCard(uuid.UUID(i), p, t, s) for i, p, t, s in d["devices"]),
        preferences={(ch, cat): on for ch, cat, on in d["preferences"]},
    )


class RedisContactCache:
    def __init__(self, redis: aioredis.Redis, keys: Keys, loader: CardLoader, *, ttl: int = 300) -> None:
        self.redis = redis
        self.keys = keys
        self.loader = loader
        self.ttl = ttl
        self._store = redis.register_script(_STORE_IF_CURRENT)

    async def get(self, app_id: uuid.UUID, user_id: str) -> ContactCard | None:
        return (await self.get_many([(app_id, user_id)]))[(app_id, user_id)]

    async def get_many(self, keys: list[CardKey]) -> dict[CardKey, ContactCard | None]:
        """One MGET for the batch (cards and their generations); the misses are loaded from the
        log together and stored only if no update bumped the generation meanwhile."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        names = [n for a, u in unique for n in (self.keys.card(a, u), self.keys.card_gen(a, u))]
        try:
            raw = await self.redis.mget(names)
        except (RedisError, OSError) as exc:
            log.warning("contact cache unavailable, reading %d cards from the log: %s", len(unique), exc)
            loaded = await self.loader(unique)
            return {k: loaded.get(k) for k in unique}
        out: dict[CardKey, ContactCard | None] = {}
        missing: list[tuple[CardKey, Any]] = []
        for i, key in enumerate(unique):
            value, gen = raw[2 * i], raw[2 * i + 1]
            if value is not None:
                out[key] = load_card(value if isinstance(value, bytes) else value.encode())
            else:
                missing.append((key, gen))
        if missing:
            loaded = await self.loader([k for k, _ in missing])
            for key, _ in missing:
                out[key] = loaded.get(key)
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for (app_id, user_id), gen in missing:
                        await self._store(
                            keys=[self.keys.card(app_id, user_id), self.keys.card_gen(app_id, user_id)],
                            args=[gen or b"0", dump_card(out[(app_id, user_id)]), self.ttl],
                            client=pipe,
                        )
                    await pipe.execute()
            except (RedisError, OSError) as exc:  # the cards are right; they are just not cached
                log.warning("contact cache: storing %d cards failed: %s", len(missing), exc)
        return out

    async def invalidate(self, app_id: uuid.UUID, user_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self.keys.card_gen(app_id, user_id))
            pipe.delete(self.keys.card(app_id, user_id))
            await pipe.execute()

    async def close(self) -> None:
        return None
