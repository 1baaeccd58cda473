"""Group commit: requests that arrive while their writer is busy go into the log together.

Written for the intake's single notifications (`notifications.acceptance`), and used as well
by the providers' callbacks (`events.writer`), which post receipts one per request.

One request alone pays for a whole write: for a notification a template read, the insert
statement, the outbox clean-up and a stream publish, and the worker that picks it up pays a
claim, a lease and an outcome write for a batch of one. Under a flood of single requests
that was ten times the cost per delivery of the batch endpoint (340/s against 2,000/s here).

Nothing waits on purpose. A request that finds a free runner is written at once, alone;
one that arrives while every runner is writing waits for the next free one, which takes
everything waiting for the same key (an app) in one write. So groups form only under load,
and only from requests that would have waited anyway.

Each request still gets its own answer once what it brought is committed. A failed group
write is tried again one request at a time (unless the database itself is away), so a
request that breaks a write fails alone, as it did before there were groups. Keys never
share a group: a batch is one app's. The writes must be safe to repeat (a notification's
event id, a provider event's dedupe value make a repeat a duplicate).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from herald.kit.db import is_outage

log = logging.getLogger(__name__)

K = TypeVar("K")  # what a group shares (an app): requests of different keys never share one
T = TypeVar("T")  # one request's item
R = TypeVar("R")  # its answer


@dataclass(slots=True, eq=False)
class _Waiting(Generic[T, R]):
    req: T
    answer: asyncio.Future[R]


def _answer(w: _Waiting[T, R], outcome: R | Exception) -> None:
    if w.answer.done():  # its caller went away
        return
    if isinstance(outcome, Exception):
        w.answer.set_exception(outcome)
    else:
        w.answer.set_result(outcome)


class GroupCommit(Generic[K, T, R]):
    """At most `runners` groups are written at once; each runner goes on taking groups until
    nothing is waiting. A runner takes its group only once it holds one of the writer's
    `slots` (the intake's are shared with the batch endpoint: the connection budget), so while
    it waits there behind other writes, its group goes on growing.

    `accept_many(key, items)` writes a group and answers each item, in order. A group holds
    at most `max_group` of `size` (one per request unless told: a request of many events
    weighs its events), and always at least one request."""

    def __init__(
        self,
        accept_many: Callable[[K, list[T]], Awaitable[list[R]]],
        slots: asyncio.Semaphore,
        *,
        runners: int,
        max_group: int,
        size: Callable[[T], int] = lambda _: 1,
    ) -> None:
        self._accept_many = accept_many
        self._slots = slots
        self._max_runners = max(1, runners)
        self._max_group = max(1, max_group)
        self._size = size
        # Insertion-ordered: the key whose request has waited longest is served first.
        self._waiting: dict[K, list[_Waiting[T, R]]] = {}
        self._runners: set[asyncio.Task[None]] = set()

    async def accept(self, key: K, req: T) -> R:
        """This request's own result, once the group it went in with is committed."""
        me: _Waiting[T, R] = _Waiting(req, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(key, []).append(me)
        if len(self._runners) < self._max_runners:
            task = asyncio.create_task(self._run())
            self._runners.add(task)
            task.add_done_callback(self._runners.discard)
        # A caller that goes away cancels only its own wait: its group, once taken, is
        # written for everyone in it (it is in the log, and a retry is answered as the
        # duplicate it is).
        return await me.answer

    def _take(self) -> tuple[K, list[_Waiting[T, R]]] | None:
        while self._waiting:
            key = next(iter(self._waiting))
            queue = self._waiting[key]
            n, weight = 0, 0
            while n < len(queue) and (n == 0 or weight + self._size(queue[n].req) <= self._max_group):
                weight += self._size(queue[n].req)
                n += 1
            group, rest = queue[:n], queue[n:]
            del self._waiting[key]
            if rest:  # to the back: a flood for one key does not starve the others
                self._waiting[key] = rest
            group = [w for w in group if not w.answer.done()]  # given up on while waiting
            if group:
                return key, group
        return None

    async def _run(self) -> None:
        while self._waiting:
            async with self._slots:
                if (taken := self._take()) is None:
                    return
                key, group = taken
                try:
                    await self._write(key, group)
                except asyncio.CancelledError:  # shutting down: nobody is told a false answer
                    for w in group:
                        w.answer.cancel()
                    raise

    async def _write(self, key: K, group: list[_Waiting[T, R]]) -> None:
        """Write the group and answer each request. If the write fails for anything but an
        outage, write each request again alone, so that a request that breaks the write (a
        bug, not a validation error: those are answered per item) fails only itself.

        Safe to repeat (the module's last paragraph): one that did reach the log before the
        failure is answered as the duplicate it is."""
        try:
            results = await self._accept_many(key, [w.req for w in group])
        except Exception as exc:
            if len(group) == 1 or is_outage(exc):  # alone, each would fail the same
                for w in group:
                    _answer(w, exc)
                return
            log.warning("writing %d requests together failed, each alone now: %r", len(group), exc)
            for w in group:
                await self._write(key, [w])
            return
        for w, result in zip(group, results, strict=True):
            _answer(w, result)

    @property
    def waiting(self) -> int:
        """Requests not yet taken into a group."""
        return sum(len(q) for q in self._waiting.values())
