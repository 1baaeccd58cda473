"""The unit of work: one transaction, plus what must happen only once it has committed.

Services flush and register follow-ups (cache invalidation, queue wake-ups); the caller
owning the transaction commits and then runs them, so nothing is announced that could
still roll back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

AfterCommit = Callable[[], Awaitable[None]]

log = logging.getLogger(__name__)
_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
_retrying: set[asyncio.Task[None]] = set()


async def _retry(hook: AfterCommit) -> None:
    for delay in _RETRY_DELAYS:
        await asyncio.sleep(delay)
        try:
            await hook()
            return
        except Exception as exc:
            log.warning("after-commit follow-up still failing: %s", exc)
    log.error("after-commit follow-up abandoned after %d tries", len(_RETRY_DELAYS) + 1)


async def run_after_commit(hooks: list[AfterCommit]) -> None:
    """Run each follow-up; one that fails (Redis briefly away) is retried in the background.

    The commit already happened, so the request has succeeded and must say so: a failed
    cache invalidation is not a reason to answer 5xx for a write that is in the log.
    """
    for hook in hooks:
        try:
            await hook()
        except Exception as exc:
            log.warning("after-commit follow-up failed, retrying in the background: %s", exc)
            task = asyncio.create_task(_retry(hook))
            _retrying.add(task)
            task.add_done_callback(_retrying.discard)


@dataclass
class UnitOfWork:
    session: AsyncSession
    _after: list[AfterCommit] = field(default_factory=list)

    def after_commit(self, hook: AfterCommit) -> None:
        self._after.append(hook)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[UnitOfWork]:
    async with sessions() as session:
        uow = UnitOfWork(session)
        async with session.begin():
            yield uow
        await run_after_commit(uow._after)
