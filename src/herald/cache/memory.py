"""The embedded contact cache: one process, so a bounded dict with expiry is enough."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict

from herald.cache.interface import CardKey, CardLoader
from herald.recipients.card import ContactCard


class MemoryContactCache:
    def __init__(self, loader: CardLoader, *, ttl: float = 300.0, max_entries: int = 100_000) -> None:
        self._loader = loader
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[tuple[uuid.UUID, str], tuple[float, ContactCard | None]] = OrderedDict()
        # Bumped by every invalidation, so a load that raced with an update is not stored.
        self._generation = 0

    async def get(self, app_id: uuid.UUID, user_id: str) -> ContactCard | None:
        return (await self.get_many([(app_id, user_id)]))[(app_id, user_id)]

    async def get_many(self, keys: list[CardKey]) -> dict[CardKey, ContactCard | None]:
        now = time.monotonic()
        out: dict[CardKey, ContactCard | None] = {}
        missing: list[CardKey] = []
        for key in dict.fromkeys(keys):
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                self._entries.move_to_end(key)
                out[key] = hit[1]
            else:
                missing.append(key)
        if missing:
            generation = self._generation
            loaded = await self._loader(missing)
            for key in missing:
                out[key] = card = loaded.get(key)
                if generation == self._generation:  # no update raced with the load
                    self._entries[key] = (now + self._ttl, card)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return out

    async def invalidate(self, app_id: uuid.UUID, user_id: str) -> None:
        self._generation += 1
        self._entries.pop((app_id, user_id), None)

    async def close(self) -> None:
        self._entries.clear()


class UncachedContacts:
    """Cards read from the log on every call: for a reader that must not see another
    process's stale entries (an API process of several, with no shared cache)."""

    def __init__(self, loader: CardLoader) -> None:
        self._loader = loader

    async def get(self, app_id: uuid.UUID, user_id: str) -> ContactCard | None:
        return (await self.get_many([(app_id, user_id)]))[(app_id, user_id)]

    async def get_many(self, keys: list[CardKey]) -> dict[CardKey, ContactCard | None]:
        unique = list(dict.fromkeys(keys))
        loaded = await self._loader(unique) if unique else {}
        return {k: loaded.get(k) for k in unique}

    async def invalidate(self, app_id: uuid.UUID, user_id: str) -> None:
        return None

    async def close(self) -> None:
        return None
