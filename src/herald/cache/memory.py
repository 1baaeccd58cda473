"""The embedded contact cache: one process, so a bounded dict with expiry is enough."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict

from herald.cache.interface import CardLoader
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
        key = (app_id, user_id)
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            self._entries.move_to_end(key)
            return hit[1]
        generation = self._generation
        card = await self._loader(app_id, user_id)
        if generation == self._generation:
            self._entries[key] = (now + self._ttl, card)
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return card

    async def get_many(self, keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], ContactCard | None]:
        return {k: await self.get(*k) for k in dict.fromkeys(keys)}

    async def invalidate(self, app_id: uuid.UUID, user_id: str) -> None:
        self._generation += 1
        self._entries.pop((app_id, user_id), None)

    async def close(self) -> None:
        self._entries.clear()
