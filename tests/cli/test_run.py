"""`herald run`'s development app."""

from __future__ import annotations

from herald.apps import service
from herald.cli.run import _first_app
from herald.runtime import Runtime


async def test_the_app_herald_run_creates_is_marked_development(runtime: Runtime) -> None:
    await _first_app(runtime)
    await _first_app(runtime)  # only on an empty database
    async with runtime.sessions() as session:
        [app] = await service.list_apps(session)
    assert app.development and app.name == "development" and app.active
