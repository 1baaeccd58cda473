"""Compiled templates, kept by recency within a budget of memory rather than a count.

A count bounds nothing when one template's source can be 512 KB: 4,096 of those compiled is
gigabytes. Each entry is charged its estimated size (see `estimate`), and the least recently
used go first once the total passes the budget.

Used from the event loop's thread only, like rendering itself.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")

# A compiled template in memory (code objects, constants, the functions and dicts made from
# them) is at most about twice its marshalled code, plus some 4 KB: measured with tracemalloc
# from one line to 512 KB (static text: 1x; expression-heavy: 1.6-2.2x). The source, which the
# key keeps alive, is charged on top.
CODE_OVERHEAD = 2
ENTRY_OVERHEAD = 4096


def estimate(source: str, code_bytes: int) -> int:
    """An entry's charge: its source (the key) and its compiled code."""
    return len(source) + CODE_OVERHEAD * code_bytes + ENTRY_OVERHEAD


class ByteBudgetCache(Generic[V]):
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._entries: OrderedDict[tuple[str, bool], tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: tuple[str, bool]) -> bool:
        return key in self._entries

    def get(self, key: tuple[str, bool]) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: tuple[str, bool], value: V, size: int) -> None:
        """Keep `value`, charged `size` bytes; one larger than the whole budget is not kept."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.used -= old[1]
        if size > self.budget:
            return
        self._entries[key] = (value, size)
        self.used += size
        while self.used > self.budget:
            _, (_, freed) = self._entries.popitem(last=False)
            self.used -= freed

    def clear(self) -> None:
        self._entries.clear()
        self.used = 0
