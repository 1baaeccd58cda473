"""A per-process copy of a small table's answer, read again at most every `refresh` seconds.

Questions the send path asks for every delivery or event (is this app held? which webhook
endpoints want this?) must not cost a query each. They read a snapshot that one query
refreshes when it is older than `refresh`; a change this process makes can `invalidate` it
at once, other processes see it within `refresh`. A failed refresh keeps the last known
snapshot (a database blip must neither release held work nor fail the callers), and only the
very first load raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

T = TypeVar("T")


class Snapshot(Generic[T]):
    def __init__(
        self, engine: AsyncEngine, load: Callable[[AsyncConnection], Awaitable[T]], *, refresh: float, name: str
    ) -> None:
        self._engine = engine
        self._load = load
        self._refresh = refresh
        self._name = name
        self._value: T | None = None
        self._loaded = False
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        """The snapshot, as of `refresh` seconds ago at most."""
        if not self._loaded or time.monotonic() >= self._next:
            await self._reload()
        return self._value  # type: ignore[return-value]  # set by the first successful load

    def invalidate(self) -> None:
        """Read the table again before the next answer (after this process changed it)."""
        self._next = 0.0

    async def _reload(self) -> None:
        async with self._lock:
            if self._loaded and time.monotonic() < self._next:
                return  # another caller refreshed it meanwhile
            try:
                async with self._engine.connect() as conn:
                    value = await self._load(conn)
            except Exception as exc:
                if not self._loaded:
                    raise
                log.warning("refreshing %s failed; keeping the last known: %s", self._name, exc)
            else:
                self._value, self._loaded = value, True
            self._next = time.monotonic() + self._refresh
