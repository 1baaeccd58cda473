"""Which apps' endpoints want which event types, as a per-process snapshot.

The consumer runs in the transaction of every recorded event (acceptances, sends, receipts,
opens): most apps have no endpoint, and for them it must cost nothing. So it asks this
snapshot, read again at most every `REFRESH` seconds by one query on the small endpoints
table, never a query per event; a change made through this process's API forgets it at
once (`invalidate`), and other processes see it within `REFRESH`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.webhooks import repository

log = logging.getLogger(__name__)

REFRESH = 3.0

# app id -> webhook type -> the enabled endpoints subscribed to it
Snapshot = dict[uuid.UUID, dict[str, tuple[uuid.UUID, ...]]]


class Subscriptions:
    def __init__(self, engine: AsyncEngine, refresh: float = REFRESH) -> None:
        self._engine = engine
        self._refresh = refresh
        self._snapshot: Snapshot | None = None
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def endpoints(self, app_id: uuid.UUID, webhook_type: str) -> tuple[uuid.UUID, ...]:
        """The app's enabled endpoints subscribed to `webhook_type`, as of `refresh` ago at most."""
        if self._snapshot is None or time.monotonic() >= self._next:
            await self._reload()
        assert self._snapshot is not None
        by_type = self._snapshot.get(app_id)
        return by_type.get(webhook_type, ()) if by_type else ()

    async def any(self) -> bool:
        """Whether any app has an enabled endpoint (the dispatcher idles without a claim if not)."""
        if self._snapshot is None or time.monotonic() >= self._next:
            await self._reload()
        return bool(self._snapshot)

    def invalidate(self, _: uuid.UUID | None = None) -> None:
        """Read the table again before the next answer (after this process changed it)."""
        self._next = 0.0

    async def _reload(self) -> None:
        async with self._lock:
            if self._snapshot is not None and time.monotonic() < self._next:
                return  # another event's call refreshed it meanwhile
            try:
                async with self._engine.connect() as conn:
                    rows = await repository.subscriptions(conn)
            except Exception as exc:
                if self._snapshot is None:
                    raise
                # Keep the last known snapshot: a blip must not fail the events' transactions.
                log.warning("refreshing webhook subscriptions failed; keeping the last known: %s", exc)
            else:
                snapshot: dict[uuid.UUID, dict[str, list[uuid.UUID]]] = {}
                for endpoint_id, app_id, types in rows:
                    for t in types:
                        snapshot.setdefault(app_id, {}).setdefault(t, []).append(endpoint_id)
                self._snapshot = {a: {t: tuple(ids) for t, ids in by.items()} for a, by in snapshot.items()}
            self._next = time.monotonic() + self._refresh
