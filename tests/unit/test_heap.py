"""A long-running process freezes its start-up heap, so full collections skip it."""

from __future__ import annotations

import gc

from herald.kit import heap


def test_settle_freezes_the_heap_and_widens_the_young_generation() -> None:
    threshold = gc.get_threshold()
    gc.unfreeze()
    survivor = [object() for _ in range(1000)]
    try:
        assert gc.get_freeze_count() == 0
        heap.settle()
        assert gc.get_freeze_count() >= len(survivor)
        # What was alive at start-up is no longer in any generation a collection walks.
        assert not any(o is survivor for o in gc.get_objects())
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == threshold[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
