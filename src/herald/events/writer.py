"""Recording events from many requests at once: a provider posting receipts one per request
(Twilio, Vonage) must not cost a transaction each.

A request hands its events here and waits for the commit, so it answers 2xx only for what is
in the log (a provider retries anything else). Whatever arrived while a write was running
goes into the next one together; nothing waits on purpose. A group that fails is written
again a request at a time, so a request that breaks the write fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.events.service import EventLog, Incoming, Summary
from herald.kit.db import is_outage
from herald.kit.uow import unit_of_work

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class _Waiting:
    events: list[Incoming]
    app_id: uuid.UUID | None
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class EventWriter:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], log_: EventLog, *, runners: int = 2, max_events: int = 2000
    ) -> None:
        self._sessions = sessions
        self._log = log_
        self._max_runners = max(1, runners)
        self._max_events = max_events
        self._waiting: list[_Waiting] = []
        self._runners: set[asyncio.Task[None]] = set()

    async def write(self, events: list[Incoming], *, app_id: uuid.UUID | None = None) -> None:
        """Return once `events` are committed (or were known already); raise if they could not be."""
        if not events:
            return
        me = _Waiting(events, app_id)
        self._waiting.append(me)
        if len(self._runners) < self._max_runners:
            task = asyncio.create_task(self._run())
            self._runners.add(task)
            task.add_done_callback(self._runners.discard)
        await asyncio.shield(me.done)

    def _take(self) -> list[_Waiting]:
        group: list[_Waiting] = []
        size = 0
        while self._waiting and (not group or size + len(self._waiting[0].events) <= self._max_events):
            w = self._waiting.pop(0)
            group.append(w)
            size += len(w.events)
        return group

    async def _run(self) -> None:
        while group := self._take():
            try:
                await self._write(group)
            except asyncio.CancelledError:
                for w in group:
                    w.done.cancel()
                raise

    async def _write(self, group: list[_Waiting]) -> None:
        try:
            await self._record(group)
        except Exception as exc:
            if len(group) == 1 or is_outage(exc):
                for w in group:
                    if not w.done.done():
                        w.done.set_exception(exc)
                return
            log.warning("recording %d callbacks together failed, each alone now: %r", len(group), exc)
            for w in group:
                await self._write([w])
            return
        for w in group:
            if not w.done.done():
                w.done.set_result(None)

    async def _record(self, group: list[_Waiting]) -> Summary:
        total = Summary()
        async with unit_of_work(self._sessions) as uow:
            # One statement set per scope: an app's own account speaks for its deliveries only.
            scopes: dict[uuid.UUID | None, list[Incoming]] = {}
            for w in group:
                scopes.setdefault(w.app_id, []).extend(w.events)
            for app_id, events in scopes.items():
                s = await self._log.record(uow, events, app_id=app_id)
                total.recorded += s.recorded
                total.duplicates += s.duplicates
                total.unknown += s.unknown
        return total
