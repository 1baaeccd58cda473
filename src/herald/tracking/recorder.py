"""Engagement events from the public endpoints, written in batches after the answer.

A pixel or a redirect must not wait for the database (the issue asks 3,000 requests/s on one
API process, p99 under 20 ms): the endpoint hands its event here and answers at once; a
background task writes whatever arrived in the last few milliseconds (or `batch` events) in
one unit of work through `EventLog.record`, which dedupes, counts and feeds the consumers.

What can be lost: on a clean shutdown (`close`), nothing: the buffer is written first. On a
crash, at most the events not yet written, a few milliseconds' worth of opens and clicks
(an unsubscribe is written before its answer: it is a preference, not a statistic).
A delivery's state is never at stake: engagement only adds to its timeline. While the
database is away, events wait and are retried; past `max_pending` the oldest are dropped
(with a warning), so an outage cannot exhaust the API's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.events.service import EventLog, Incoming
from herald.kit.uow import unit_of_work

log = logging.getLogger(__name__)

_BACKOFF = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class EngagementRecorder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        events: EventLog,
        *,
        batch: int = 500,
        interval: float = 0.01,
        max_pending: int = 100_000,
    ) -> None:
        self._sessions = sessions
        self._events = events
        self._batch = batch
        self._interval = interval
        self._max_pending = max_pending
        self._pending: deque[Incoming] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Lock | None = None
        self.dropped = 0

    def add(self, event: Incoming) -> None:
        """Take one event to write soon; never waits."""
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("engagement buffer full (database away?): %d events dropped so far", self.dropped)
        self._pending.append(event)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="engagement-recorder")
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if len(self._pending) < self._batch:
                await asyncio.sleep(self._interval)
            try:
                await self._write_once()
                failures = 0
            except Exception as exc:
                delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1
                log.warning("writing engagement events failed (retrying in %.2fs): %s", delay, exc)
                await asyncio.sleep(delay)
            if self._pending:
                self._wake.set()

    async def _write_once(self) -> None:
        """Write up to `batch` events; on failure they go back to the front of the buffer."""
        if self._writing is None:
            self._writing = asyncio.Lock()
        async with self._writing:
            items = [self._pending.popleft() for _ in range(min(self._batch, len(self._pending)))]
            if not items:
                return
            try:
                async with unit_of_work(self._sessions) as uow:
                    await self._events.record(uow, items)
            except BaseException:
                self._pending.extendleft(reversed(items))
                raise

    async def flush(self) -> None:
        """Write everything buffered now (a clean shutdown; tests)."""
        while self._pending:
            await self._write_once()

    async def close(self) -> None:
        """Write the buffer, then stop (a write under way finishes first: both hold the lock)."""
        try:
            await self.flush()
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                self._task = None
            await self.flush()
        except Exception as exc:
            log.error("%d engagement events could not be written at shutdown: %s", len(self._pending), exc)
