"""Which apps' endpoints want which event types, as a per-process snapshot.

The consumer runs in the transaction of every recorded event (acceptances, sends, receipts,
opens): most apps have no endpoint, and for them it must cost nothing. So it asks this
snapshot (kit/snapshot.py), read again at most every `REFRESH` seconds by one query on the
small endpoints table, never a query per event; a change made through this process's API forgets it at
once (`invalidate`), and other processes see it within `REFRESH`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.kit.snapshot import Snapshot
from herald.webhooks import repository

REFRESH = 3.0

# app id -> webhook type -> the enabled endpoints subscribed to it
Subscribed = dict[uuid.UUID, dict[str, tuple[uuid.UUID, ...]]]


class Subscriptions:
    def __init__(self, engine: AsyncEngine, refresh: float = REFRESH) -> None:
        self._snapshot = Snapshot(engine, _load, refresh=refresh, name="webhook subscriptions")

    async def endpoints(self, app_id: uuid.UUID, webhook_type: str) -> tuple[uuid.UUID, ...]:
        """The app's enabled endpoints subscribed to `webhook_type`, as of `refresh` ago at most."""
        by_type = (await self._snapshot.get()).get(app_id)
        return by_type.get(webhook_type, ()) if by_type else ()

    async def any(self) -> bool:
        """Whether any app has an enabled endpoint (the dispatcher idles without a claim if not)."""
        return bool(await self._snapshot.get())

    def invalidate(self, _: uuid.UUID | None = None) -> None:
        """Read the table again before the next answer (after this process changed it)."""
        self._snapshot.invalidate()


async def _load(conn: AsyncConnection) -> Subscribed:
    snapshot: dict[uuid.UUID, dict[str, list[uuid.UUID]]] = {}
    for endpoint_id, app_id, types in await repository.subscriptions(conn):
        for t in types:
            snapshot.setdefault(app_id, {}).setdefault(t, []).append(endpoint_id)
    return {a: {t: tuple(ids) for t, ids in by.items()} for a, by in snapshot.items()}
