"""The unit of work: one transaction, plus what must happen only once it has committed.

Services flush and register follow-ups (cache invalidation, queue wake-ups); the caller
owning the transaction commits and then runs them, so nothing is announced that could
still roll back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

AfterCommit = Callable[[], Awaitable[None]]


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
        for hook in uow._after:
            await hook()
