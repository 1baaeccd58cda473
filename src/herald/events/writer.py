"""Recording events from many requests at once: a provider posting receipts one per request
(Twilio, Vonage) must not cost a transaction each.

A request hands its events here and waits for the commit, so it answers 2xx only for what is
in the log (a provider retries anything else). The grouping is the intake's
(`kit.grouping.GroupCommit`): whatever arrived for the same scope while a write was running
goes into the next one together, at most `max_events` events a group; nothing waits on
purpose; a group that fails is written again a request at a time. Recording is safe to
repeat: an event already in the log is a duplicate.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.events.service import EventLog, Incoming
from herald.kit.grouping import GroupCommit
from herald.kit.uow import unit_of_work


class EventWriter:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], log_: EventLog, *, runners: int = 2, max_events: int = 2000
    ) -> None:
        self._sessions = sessions
        self._log = log_
        # The scope is the app whose own account sent the events (None: the deployment's),
        # as an app's account speaks for that app's deliveries alone.
        self._groups: GroupCommit[uuid.UUID | None, list[Incoming], None] = GroupCommit(
            self._record, asyncio.Semaphore(max(1, runners)), runners=runners, max_group=max_events, size=len
        )

    async def write(self, events: list[Incoming], *, app_id: uuid.UUID | None = None) -> None:
        """Return once `events` are committed (or were known already); raise if they could not be."""
        if events:
            await self._groups.accept(app_id, events)

    async def _record(self, app_id: uuid.UUID | None, requests: list[list[Incoming]]) -> list[None]:
        async with unit_of_work(self._sessions) as uow:
            await self._log.record(uow, [e for events in requests for e in events], app_id=app_id)
        return [None] * len(requests)
