"""The Templates pages in Chromium: make a template, type in the editor and see the preview
follow (htmx, no sleeps: the test waits for the fragment), see an undefined variable listed
as a problem and go away once fixed, publish (confirmed), and read the history. Axe checks and
a screenshot on every page; no page breaks its Content-Security-Policy."""

from __future__ import annotations

import re

from playwright.async_api import Dialog, Page, expect

from tests.browser import test_console
from tests.browser.console_pages import Console

console = test_console.console  # the same served Herald and console users


async def test_an_editor_writes_previews_fixes_and_publishes_a_template(
    page: Page, console: Console, page_errors: list[str]
) -> None:
    await console.sign_in(page, console.seeded.editor)
    await page.get_by_role("navigation", name="App sections").get_by_role("link", name="Templates").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Templates")
    await console.check(page, "templates-empty")
    await page.get_by_label("Key (required)").fill("order_shipped")
    await page.get_by_label("Description").fill("Your order is on its way")
    await page.get_by_role("button", name="Make the template").click()
    await expect(page.get_by_role("status")).to_have_text("The template order_shipped is made.")

    preview = page.locator("#preview")
    await page.get_by_label("Sample data (JSON)").fill('{"order": {"id": 42}, "name": "Ada"}')
    await page.get_by_label("subject (email, default)").fill("Order {{ order.id }} shipped")
    await page.get_by_label("text (email, default)").fill("Hello {{ name }}")
    await expect(preview).to_contain_text("Order 42 shipped")  # the fragment came back with the typing
    await expect(preview.get_by_role("heading", name="No problems found")).to_be_visible()
    await page.get_by_label("text (sms, default)").fill("Order {{ order.id }} for {{ customer }}")
    problem = preview.locator('li[data-kind="undefined_variable"]')
    await expect(problem).to_contain_text("customer")
    await expect(preview).to_contain_text("GSM-7")
    await console.check(page, "editor-problem")
    await problem.get_by_role("link").click()  # the problem points at its field
    await expect(page.get_by_label("text (sms, default)")).to_be_focused()
    await page.get_by_label("text (sms, default)").fill("Order {{ order.id }} for {{ name }}")
    await expect(problem).to_have_count(0)
    await expect(preview).to_contain_text("Order 42 for Ada")

    await page.get_by_role("button", name="Save draft").click()
    await expect(page.get_by_role("status")).to_contain_text("The draft is saved")
    await console.check(page, "editor-saved")

    async def accept(dialog: Dialog) -> None:
        assert "Publish the saved draft" in dialog.message
        await dialog.accept()

    page.once("dialog", accept)
    await page.get_by_role("button", name="Publish the draft").click()
    await expect(page.get_by_role("status")).to_have_text("Version 1 is live.")
    await expect(page.get_by_role("link", name="History")).to_have_attribute("aria-current", "page")
    await expect(page.get_by_role("cell", name="live")).to_be_visible()
    await expect(
        page.get_by_role("cell", name=re.compile(f"console:{re.escape(console.seeded.editor)}")).first
    ).to_be_visible()
    await console.check(page, "history")

    await page.get_by_role("link", name="v1", exact=True).click()
    await expect(page.get_by_role("heading", name=re.compile("Version 1"))).to_be_visible()
    await console.check(page, "version")
    await page.get_by_role("link", name="Test send").click()
    await console.check(page, "test-send")
    await page.get_by_role("link", name="All templates").click()
    await page.get_by_role("link", name="Layouts").click()
    await console.check(page, "layouts")
    assert console.csp == []
    assert page_errors == []
