"""The embedded contact cache loads a batch's misses together, and never stores a racing load."""

from __future__ import annotations

import uuid

from herald.cache.memory import MemoryContactCache
from herald.recipients.card import ContactCard

APP = uuid.uuid4()


def card(user_id: str) -> ContactCard:
    return ContactCard(user_id, None, f"{user_id}@example.com", None, None, None, {}, (), {})


async def test_misses_of_a_batch_are_loaded_in_one_call() -> None:
    calls: list[list[tuple[uuid.UUID, str]]] = []

    async def loader(keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], ContactCard | None]:
        calls.append(keys)
        return {k: (card(k[1]) if k[1] != "gone" else None) for k in keys}

    cache = MemoryContactCache(loader)
    keys = [(APP, "a"), (APP, "b"), (APP, "a"), (APP, "gone")]
    got = await cache.get_many(keys)
    assert calls == [[(APP, "a"), (APP, "b"), (APP, "gone")]]
    assert got[(APP, "b")] == card("b") and got[(APP, "gone")] is None
    await cache.get_many(keys)  # all cached now, including the absent user
    assert len(calls) == 1
    await cache.invalidate(APP, "b")
    await cache.get_many(keys)
    assert calls[-1] == [(APP, "b")]
