"""A real browser for the tests: Debian's Chromium driven by Playwright, never a downloaded one.

Under CI a missing Chromium fails the test (`make test` installs it); elsewhere the test skips and
says why. Each test gets its own browser, so the fixtures live on the test's event loop (pytest-asyncio's
default) next to the servers the test starts, and run under xdist like any other test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: without these Chromium keeps trying Google's hosts (update checks,
# sync, QUIC probes) and its refused connections crowd the logs. Playwright gives every launch a new
# empty --user-data-dir of its own (it refuses one in `args`).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI") == "true"

ARTEFACTS = pytest.StashKey[Path]()
OUTCOME = pytest.StashKey[pytest.TestReport]()


def require_chromium() -> None:
    """Skip (or, under CI, fail) when Debian's Chromium is not installed."""
    if CHROMIUM.exists():
        return
    reason = f"Debian's Chromium is not at {CHROMIUM}: `make test` installs it (apt-get install chromium)"
    if IN_CI:
        pytest.fail(reason + " (CI=true: a missing browser is a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """Name the failing test's screenshot in its report: the report leaves before the teardown that takes it."""
    report = yield
    assert isinstance(report, pytest.TestReport)
    folder = item.stash.get(ARTEFACTS, None)
    if report.when == "call":
        item.stash[OUTCOME] = report
        if report.failed and folder is not None:
            report.sections.append(
                ("browser artefacts", f"screenshot: {folder / 'final.png'}\nconsole: {folder / 'console.log'}")
            )
    return report


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        await browser.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught exceptions in the page, for a test to assert there were none."""
    return []


@pytest.fixture
async def page(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path, page_errors: list[str]
) -> AsyncIterator[Page]:
    """A page in a fresh context; its last state is kept as a screenshot and its console as a log."""
    folder = tmp_path / "browser"
    folder.mkdir()
    request.node.stash[ARTEFACTS] = folder
    lines: list[str] = []

    def console(message: ConsoleMessage) -> None:
        lines.append(f"{message.type}: {message.text}")

    def error(exc: Exception) -> None:
        page_errors.append(str(exc))
        lines.append(f"pageerror: {exc}")

    context = await browser.new_context()
    page = await context.new_page()
    page.on("console", console)
    page.on("pageerror", error)
    yield page
    await page.screenshot(path=folder / "final.png", full_page=True)
    (folder / "console.log").write_text("\n".join(lines) + "\n")
    outcome = request.node.stash.get(OUTCOME, None)
    state = "failed" if outcome is not None and outcome.failed else "final state"
    print(f"browser artefacts ({state}): {folder}")
    await context.close()
