"""A Herald with console users (tests/console/seed.py), on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from herald.api.app import create_app
from herald.runtime import Runtime
from tests.console.logs import Log, make_log
from tests.console.seed import Browse, ConsoleClient, Seeded, seed, signed_in


@pytest.fixture
async def seeded(runtime: Runtime) -> Seeded:
    return await seed(runtime)


@pytest.fixture
async def browse(runtime: Runtime) -> AsyncIterator[Browse]:
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
async def owner(browse: Browse, seeded: Seeded) -> ConsoleClient:
    return await signed_in(browse, seeded.owner)


@pytest.fixture
async def log(runtime: Runtime, seeded: Seeded) -> Log:
    """The app's notification log, seeded for the Activity, Users and Dead letters pages."""
    return await make_log(runtime, seeded)
