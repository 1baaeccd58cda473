"""Holding a disabled app's work: its deliveries wait, neither sent nor failed.

The send path asks for every delivery, so the answer comes from a per-process set of
disabled app ids, read again at most every `REFRESH` seconds by one query on the small apps
table, never a query per batch. A held delivery goes back to `queued` for `HOLD` without
counting an attempt. `herald apps enable` makes them due again at once; because a worker
may go on holding for up to `SETTLE` after a change (its set is that old), enable sweeps a
second time after it, and delete waits that long before it looks for sends in flight.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.apps import repository
from herald.kit.snapshot import Snapshot

REASON = "app_disabled"
REFRESH = 2.0
# A refresh period, plus time for a hold decided on the old set to be recorded.
SETTLE = timedelta(seconds=REFRESH + 1.0)
# Long, as enable makes held work due itself (durably: an outbox row on Redis, the log
# itself embedded): a short hold would only have the workers lease and put back a disabled
# app's whole backlog over and over. It bounds the wait of a delivery held again by a worker
# with a stale set after an enable whose second sweep never ran (the command was killed).
HOLD = timedelta(minutes=15)


class Holds:
    """Which apps' deliveries are held now, as of at most `refresh` seconds ago.

    A failed refresh keeps the last known set: a database blip must not release a disabled
    app's work, nor fail deliveries of the others."""

    def __init__(self, engine: AsyncEngine, refresh: float = REFRESH) -> None:
        self._disabled = Snapshot(engine, _disabled_ids, refresh=refresh, name="the disabled apps")

    async def held(self, app_id: uuid.UUID) -> bool:
        return app_id in await self._disabled.get()


async def _disabled_ids(conn: AsyncConnection) -> frozenset[uuid.UUID]:
    return frozenset(await repository.disabled_ids(conn))
