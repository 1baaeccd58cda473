"""The console's Activity, Dead letters and Users pages as a person uses them, in Chromium, on
both backends: search the log, open a notification (its email in a sandboxed frame), replay
the dead letters of a filter after the confirmation, find a user, change a preference, lift a
suppression and delete the user. Each page screenshotted and checked by axe; no page breaks
its Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Dialog, Page, expect

from herald.runtime import Runtime
from tests.browser.console_pages import Console, served_console
from tests.console.logs import Log, make_log


@pytest.fixture
async def console(runtime: Runtime, page: Page, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Console, Log]]:
    async with served_console(runtime, page, request) as served:
        yield served, await make_log(runtime, served.seeded)


async def test_an_editor_walks_activity_dead_letters_and_users(
    page: Page, console: tuple[Console, Log], page_errors: list[str]
) -> None:
    c, _ = console
    await c.sign_in(page, c.seeded.editor)
    nav = page.get_by_role("navigation", name="App sections")

    await nav.get_by_role("link", name="Activity").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Activity")
    await expect(page.get_by_role("link", name="Activity")).to_have_attribute("aria-current", "page")
    await c.check(page, "activity")
    await page.get_by_label("Channel").select_option("sms")
    await page.get_by_role("button", name="Search").click()
    assert "channel=sms" in page.url  # a GET form: the search is a link
    rows = page.locator("main table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(page.get_by_role("link", name=re.compile("Download CSV"))).to_have_attribute(
        "href", re.compile(r"/activity/export\.csv\?channel=sms$")
    )
    await c.check(page, "activity-filtered")

    await rows.get_by_role("link").first.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Notification")
    await expect(page.get_by_text("max_attempts").first).to_be_visible()
    frame = page.locator("iframe.email-preview")
    await expect(frame).to_have_attribute("sandbox", "")
    await expect(page.frame_locator("iframe.email-preview").locator("b")).to_have_text("7")
    await c.check(page, "notification")

    await nav.get_by_role("link", name="Dead letters").click()
    await c.check(page, "dead-letters")
    await page.get_by_label("Channel").select_option("sms")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name="Replay all that match…").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Replay dead letters?")
    await c.check(page, "dead-letters-confirm")
    await page.get_by_role("button", name="Replay 1 dead letter").click()
    await expect(page.get_by_role("status")).to_have_text("1 dead letter replayed.")
    await expect(page.get_by_text("No dead letter matches this filter.")).to_be_visible()

    await nav.get_by_role("link", name="Users").click()
    await c.check(page, "users")
    await page.get_by_label("User id").fill("bob")
    await page.get_by_role("button", name="Find").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("bob")
    await c.check(page, "user")
    await page.get_by_label("sms, every category").select_option("off")
    await page.get_by_role("button", name="Save preferences").click()
    await expect(page.get_by_role("status")).to_have_text("The preferences are saved.")
    await expect(page.get_by_label("sms, every category")).to_have_value("off")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)  # the data-confirm of the removal
    await page.get_by_role("button", name="Remove the suppression of bob@example.com").click()
    await expect(page.get_by_role("status")).to_contain_text("is no longer suppressed")

    await page.get_by_role("link", name="Delete this user…").click()
    await c.check(page, "user-delete")
    await page.get_by_role("button", name="Delete bob").click()
    await expect(page.get_by_role("status")).to_contain_text("The user bob is deleted")
    assert c.csp == []
    assert page_errors == []


async def test_a_viewer_sees_the_pages_without_their_buttons(page: Page, console: tuple[Console, Log]) -> None:
    c, log = console
    await c.sign_in(page, c.seeded.viewer)
    await page.goto(f"{c.url}/apps/{c.seeded.app_id}/dead-letters")
    await expect(page.get_by_text("Read-only for you")).to_be_visible()
    await expect(page.get_by_role("button", name=re.compile("Replay"))).to_have_count(0)
    await c.check(page, "viewer-dead-letters")
    await page.goto(f"{c.url}/apps/{c.seeded.app_id}/users/bob")
    await expect(page.get_by_role("button", name="Save preferences")).to_have_count(0)
    await c.check(page, "viewer-user")
    await page.goto(f"{c.url}/apps/{c.seeded.app_id}/activity/{log.ids['beta']}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert c.csp == []
