"""The garbage collector's settings for Herald's long-running processes.

A process of Herald holds a few hundred thousand objects from start-up on (modules,
SQLAlchemy's and pydantic's metadata, compiled templates), and CPython's full collection
walks all of them: measured here, 75-115 ms with the event loop stopped, several times a
minute under load. Every in-flight send and request waits for it, so it set the p99.

Frozen, those objects are out of the collector's sight for good (they live as long as the
process anyway); what the process creates later is still collected, and a full collection
then walks only that. A larger first generation also means fewer collections, and fewer
short-lived objects (a request in flight) promoted to the older generations by bad timing.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def settle() -> None:
    """Call once start-up is done, before serving: collect, then freeze what is left."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
