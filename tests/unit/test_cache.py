"""The embedded contact cache loads a batch's misses together, and never stores a racing load."""

from __future__ import annotations

import uuid
from pathlib import Path

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


async def test_redis_cache_reads_the_log_while_redis_is_away() -> None:
    """The intake reads its users through this cache: a Redis restart must not stop it."""
    from herald.cache.redis import RedisContactCache
    from herald.kit.redis import Keys, connect

    calls: list[list[tuple[uuid.UUID, str]]] = []

    async def loader(keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], ContactCard | None]:
        calls.append(keys)
        return {k: card(k[1]) for k in keys if k[1] != "gone"}

    # Nothing listens on port 1: every command fails to connect.
    cache = RedisContactCache(connect("redis://127.0.0.1:1/0"), Keys("test-away"), loader)
    got = await cache.get_many([(APP, "a"), (APP, "gone")])
    assert got == {(APP, "a"): card("a"), (APP, "gone"): None}
    assert calls == [[(APP, "a"), (APP, "gone")]]


async def test_uncached_contacts_read_the_log_every_time() -> None:
    """What an API process of several uses without Redis: no entry of its own to go stale."""
    from herald.cache.memory import UncachedContacts

    calls: list[list[tuple[uuid.UUID, str]]] = []

    async def loader(keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], ContactCard | None]:
        calls.append(keys)
        return {k: card(k[1]) for k in keys}

    contacts = UncachedContacts(loader)
    for _ in range(2):
        assert await contacts.get_many([(APP, "a"), (APP, "a")]) == {(APP, "a"): card("a")}
    assert calls == [[(APP, "a")], [(APP, "a")]]


def test_intake_reads_through_the_cache_only_where_every_change_reaches_it(tmp_path: Path) -> None:
    from herald.cache.memory import MemoryContactCache, UncachedContacts
    from herald.config import Settings
    from herald.runtime import build_runtime

    settings = Settings(data_dir=tmp_path, secret_key="k" * 32)
    several = build_runtime(settings)  # e.g. `herald api --workers 4` without Redis
    assert isinstance(several.intake.cards, UncachedContacts)
    alone = build_runtime(settings, single_process=True)  # `herald run`
    assert isinstance(alone.intake.cards, MemoryContactCache) and alone.intake.cards is alone.cache
