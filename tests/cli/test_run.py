"""`herald run`: its development app, and what the command loads."""

from __future__ import annotations

import subprocess
import sys

from herald.apps import service
from herald.cli.run import _first_app
from herald.runtime import Runtime


async def test_the_app_herald_run_creates_is_marked_development(runtime: Runtime) -> None:
    await _first_app(runtime)
    await _first_app(runtime)  # only on an empty database
    async with runtime.sessions() as session:
        [app] = await service.list_apps(session)
    assert app.development and app.name == "development" and app.active


def test_the_command_loads_no_simulator_until_one_is_started() -> None:
    """The CLI imports the simulators only in the commands that start them."""
    code = "import sys, herald.cli.main; print(sorted(m for m in sys.modules if m.startswith('herald.sandbox')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
