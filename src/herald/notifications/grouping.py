"""Group commit for single notifications: requests that arrive while the intake is busy go
into the log together, as one batch.

One request alone pays for a whole write: a template read, the insert statement, the
outbox clean-up and a stream publish, and the worker that picks it up pays a claim, a lease
and an outcome write for a batch of one. Under a flood of single requests that was ten
times the cost per delivery of the batch endpoint (340/s against 2,000/s here).

Nothing waits on purpose. A request that finds a free runner is written at once, alone;
one that arrives while every runner is writing waits for the next free one, which takes
everything waiting for the same app in one `accept_batch`. So groups form only under load,
and only from requests that would have waited anyway.

Each request still gets its own answer once its notification is committed. A failed group
write is tried again one request at a time (unless the database itself is away), so a
request that breaks a write fails alone, as it did before there were groups. Apps never
share a group: a batch is one app's.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from herald.kit.db import is_outage
from herald.notifications.schemas import NotificationIn
from herald.notifications.service import Accepted

log = logging.getLogger(__name__)

AcceptMany = Callable[[uuid.UUID, list[NotificationIn]], Awaitable[list[Accepted]]]


@dataclass(slots=True, eq=False)
class _Waiting:
    req: NotificationIn
    answer: asyncio.Future[Accepted]


def _answer(w: _Waiting, outcome: Accepted | Exception) -> None:
    if w.answer.done():  # its caller went away
        return
    if isinstance(outcome, Exception):
        w.answer.set_exception(outcome)
    else:
        w.answer.set_result(outcome)


class GroupCommit:
    """At most `runners` groups are written at once; each runner goes on taking groups until
    nothing is waiting. A runner takes its group only once it holds one of the intake's
    `slots` (shared with the batch endpoint: the connection budget), so while it waits there
    behind other writes, its group goes on growing."""

    def __init__(self, accept_many: AcceptMany, slots: asyncio.Semaphore, *, runners: int, max_group: int) -> None:
        self._accept_many = accept_many
        self._slots = slots
        self._max_runners = max(1, runners)
        self._max_group = max(1, max_group)
        # Insertion-ordered: the app whose request has waited longest is served first.
        self._waiting: dict[uuid.UUID, list[_Waiting]] = {}
        self._runners: set[asyncio.Task[None]] = set()

    async def accept(self, app_id: uuid.UUID, req: NotificationIn) -> Accepted:
        """This request's own result, once the group it went in with is committed."""
        me = _Waiting(req, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(app_id, []).append(me)
        if len(self._runners) < self._max_runners:
            task = asyncio.create_task(self._run())
            self._runners.add(task)
            task.add_done_callback(self._runners.discard)
        # A caller that goes away cancels only its own wait: its group, once taken, is
        # written for everyone in it (it is in the log, and a retry is answered as a
        # duplicate by its event id).
        return await me.answer

    def _take(self) -> tuple[uuid.UUID, list[_Waiting]] | None:
        while self._waiting:
            app_id = next(iter(self._waiting))
            queue = self._waiting[app_id]
            group, rest = queue[: self._max_group], queue[self._max_group :]
            del self._waiting[app_id]
            if rest:  # to the back: a flood from one app does not starve the others
                self._waiting[app_id] = rest
            group = [w for w in group if not w.answer.done()]  # given up on while waiting
            if group:
                return app_id, group
        return None

    async def _run(self) -> None:
        while self._waiting:
            async with self._slots:
                if (taken := self._take()) is None:
                    return
                app_id, group = taken
                try:
                    await self._write(app_id, group)
                except asyncio.CancelledError:  # shutting down: nobody is told a false answer
                    for w in group:
                        w.answer.cancel()
                    raise

    async def _write(self, app_id: uuid.UUID, group: list[_Waiting]) -> None:
        """Write the group and answer each request. If the write fails for anything but an
        outage, write each request again alone, so that a request that breaks the write (a
        bug, not a validation error: those are answered per item) fails only itself.

        Safe to repeat: every request has an event id, so one that did reach the log before
        the failure is answered as the duplicate it is."""
        try:
            results = await self._accept_many(app_id, [w.req for w in group])
        except Exception as exc:
            if len(group) == 1 or is_outage(exc):  # alone, each would fail the same
                for w in group:
                    _answer(w, exc)
                return
            log.warning("writing %d notifications together failed, each alone now: %r", len(group), exc)
            for w in group:
                await self._write(app_id, [w])
            return
        for w, result in zip(group, results, strict=True):
            _answer(w, result)

    @property
    def waiting(self) -> int:
        """Requests not yet taken into a group."""
        return sum(len(q) for q in self._waiting.values())
