"""The console in a real browser: a served Herald with console users, an axe check that fails
on serious and critical violations, and a screenshot of every page visited (kept with the
test's browser artefacts)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Page

from herald.api.app import create_app
from herald.runtime import Runtime
from tests.browser.conftest import ARTEFACTS
from tests.browser.hosting import serve_asgi
from tests.console.seed import PASSWORD, Seeded, seed

BLOCKING = {"serious", "critical"}


@dataclass
class Console:
    """A served Herald: `url` is the console's root; `seeded` its apps and users."""

    url: str
    seeded: Seeded
    folder: Path
    shots: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)

    async def check(self, page: Page, name: str) -> None:
        """Screenshot the page as an artefact, then fail on serious or critical axe violations."""
        self.shots.append(name)
        await page.screenshot(path=self.folder / f"{len(self.shots):02d}-{name}.png", full_page=True)
        results = await Axe().run(page)
        found = [
            f"{rule['id']} ({rule['impact']}): {rule['help']} at {[node['target'] for node in rule['nodes']]}"
            for rule in results.response["violations"]
            if rule["impact"] in BLOCKING
        ]
        assert found == [], f"{name}: {found}"

    async def sign_in(self, page: Page, email: str, password: str = PASSWORD) -> None:
        await page.goto(f"{self.url}/login")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()


@asynccontextmanager
async def served_console(runtime: Runtime, page: Page, request: pytest.FixtureRequest) -> AsyncIterator[Console]:
    """The runtime's API served with seeded console users; the page's CSP reports collected."""
    seeded = await seed(runtime)
    async with serve_asgi(create_app(runtime.api_services())) as origin:
        served = Console(f"{origin}/console", seeded, request.node.stash[ARTEFACTS])
        page.on(
            "console",
            lambda m: served.csp.extend([m.text] if re.search("Content.Security.Policy", m.text) else []),
        )
        yield served
