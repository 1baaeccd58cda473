"""A Herald with console users (tests/console/seed.py), on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from herald.api.app import create_app
from herald.runtime import Runtime
from tests.console.seed import ConsoleClient, Seeded, seed


@pytest.fixture
async def seeded(runtime: Runtime) -> Seeded:
    return await seed(runtime)


@pytest.fixture
async def browse(runtime: Runtime) -> AsyncIterator[Callable[[], Awaitable[ConsoleClient]]]:
    """New console clients (browsers) on one Herald app."""
    app = create_app(runtime.api_services())
    made: list[ConsoleClient] = []

    async def new() -> ConsoleClient:
        made.append(ConsoleClient(app))
        return made[-1]

    yield new
    for c in made:
        await c.aclose()


@pytest.fixture
async def owner(browse: Callable[[], Awaitable[ConsoleClient]], seeded: Seeded) -> ConsoleClient:
    c = await browse()
    assert (await c.login(seeded.owner)).status_code == 303
    return c
