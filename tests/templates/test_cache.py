"""The compiled-template cache is bounded by bytes, least recently used first out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from herald.kit.errors import InvalidTemplate
from herald.templates import compiler
from herald.templates.cache import ByteBudgetCache, estimate
from herald.templates.compiler import Compiled


def test_evicts_least_recently_used_until_within_budget() -> None:
    cache: ByteBudgetCache[str] = ByteBudgetCache(100)
    cache.put(("a", False), "A", 40)
    cache.put(("b", False), "B", 40)
    assert cache.get(("a", False)) == "A"  # a is now the most recent
    cache.put(("c", False), "C", 40)
    assert ("b", False) not in cache and ("a", False) in cache and ("c", False) in cache
    assert cache.used == 80
    cache.put(("d", False), "D", 90)  # one large entry pushes out both
    assert len(cache) == 1 and cache.used == 90
    cache.put(("e", False), "E", 101)  # larger than the whole budget: not kept
    assert ("e", False) not in cache and cache.used == 90


def test_replacing_an_entry_recharges_it() -> None:
    cache: ByteBudgetCache[str] = ByteBudgetCache(100)
    cache.put(("a", False), "A", 60)
    cache.put(("a", False), "A2", 30)
    assert cache.used == 30 and cache.get(("a", False)) == "A2"


@pytest.fixture
def small_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[ByteBudgetCache[Compiled | InvalidTemplate]]:
    cache: ByteBudgetCache[Compiled | InvalidTemplate] = ByteBudgetCache(1_000_000)
    monkeypatch.setattr(compiler, "CACHE", cache)
    yield cache


def test_compiled_templates_are_charged_by_size(small_cache: ByteBudgetCache[Compiled | InvalidTemplate]) -> None:
    big = "<p>" + "static text " * 10_000 + "{{ name }}</p>"  # ~120 KB
    small = [f"Hi {{{{ name }}}} #{n}" for n in range(50)]
    compiler.compiled(big, True)
    for source in small:
        compiler.compiled(source, False)
    assert (big, True) in small_cache and all((s, False) in small_cache for s in small)
    assert small_cache.used >= estimate(big, 0)
    # Two more large ones do not fit beside the first: the least recently used goes, whatever
    # the count of small entries.
    for n in range(2):
        compiler.compiled(big.replace("static", f"other{n}"), True)
    assert (big, True) not in small_cache
    assert all((s, False) in small_cache for s in small[-10:])
    assert small_cache.used <= small_cache.budget


def test_a_source_that_does_not_compile_is_remembered(
    small_cache: ByteBudgetCache[Compiled | InvalidTemplate],
) -> None:
    with pytest.raises(InvalidTemplate):
        compiler.compiled("{{ oops", False)
    assert isinstance(small_cache.get(("{{ oops", False)), InvalidTemplate)
    with pytest.raises(InvalidTemplate, match="syntax"):
        compiler.compiled("{{ oops", False)
