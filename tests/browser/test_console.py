"""The console as a person uses it, in Chromium, on both backends: sign in, walk every page
(each one screenshotted and checked by axe), add a webhook and rotate the app secret (htmx),
and sign out. No page breaks its own Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from herald.runtime import Runtime
from tests.browser.console_pages import Console, served_console


@pytest.fixture
async def console(runtime: Runtime, page: Page, request: pytest.FixtureRequest) -> AsyncIterator[Console]:
    async with served_console(runtime, page, request) as served:
        yield served


async def test_an_owner_walks_the_console_and_changes_settings(
    page: Page, console: Console, page_errors: list[str]
) -> None:
    await page.goto(f"{console.url}/login")
    await console.check(page, "login")
    await console.sign_in(page, console.seeded.owner, "wrong password, surely")
    await expect(page.get_by_role("alert")).to_contain_text("The email or the password is not right.")
    await console.check(page, "login-failed")

    await console.sign_in(page, console.seeded.owner)
    await expect(page.get_by_role("heading", level=1)).to_have_text("alpha")
    await expect(page.get_by_role("status")).to_have_text("You are signed in.")
    await console.check(page, "app")

    nav = page.get_by_role("navigation", name="App sections")
    await nav.get_by_role("link", name="Settings").click()
    await expect(page.get_by_role("link", name="Integrations")).to_have_attribute("aria-current", "page")
    await console.check(page, "integrations")
    await page.get_by_role("link", name="Add an integration").click()
    await page.get_by_label("Provider").select_option("smtp")
    await page.get_by_role("button", name="Continue").click()
    await console.check(page, "integration-form")
    await page.get_by_label("Name (required)").fill("relay")
    await page.get_by_label("host", exact=True).fill("smtp.example.com")
    await page.get_by_label("password", exact=True).fill("a-relay-password")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("The integration relay is saved.")
    await expect(page.get_by_role("cell", name="relay", exact=True)).to_be_visible()
    assert "a-relay-password" not in await page.content()

    await page.get_by_role("link", name="Webhooks").click()
    await page.get_by_label("URL").fill("http://169.254.169.254/latest/meta-data")  # egress rules refuse it
    await page.get_by_role("button", name="Add endpoint").click()
    await expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    await expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    await console.check(page, "webhooks-error")
    await page.get_by_label("URL").fill("https://hooks.example.com/herald")
    await page.get_by_label("delivered").check()
    await page.get_by_role("button", name="Add endpoint").click()
    await expect(page.locator("code.secret")).to_have_text(re.compile(r"^whsec_"))
    await console.check(page, "webhook-secret")

    await page.get_by_role("link", name="Back to webhooks").click()
    await console.check(page, "webhooks")
    await page.get_by_role("link", name="App secrets").click()
    await console.check(page, "secrets")
    await page.get_by_role("button", name="Rotate the secret").click()  # htmx: swapped into <main>
    await expect(page.locator("code.secret")).to_be_visible()
    await expect(page.locator("main")).to_be_focused()
    assert page.url.endswith("/settings/secrets")  # a fragment swap, not a new page
    await console.check(page, "secret-rotated")

    await page.get_by_role("link", name="Members").click()
    await page.get_by_label("Email of the console user").fill(console.seeded.outsider)
    await page.get_by_label("Role", exact=True).select_option("viewer")
    await page.get_by_role("button", name="Add member").click()
    await expect(page.get_by_role("status")).to_contain_text("is now viewer of alpha")
    await console.check(page, "members")

    await page.goto(f"{console.url}/account")
    await console.check(page, "account")
    await page.goto(f"{console.url}/apps/{console.seeded.other_app_id}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    await console.check(page, "not-found")

    await page.get_by_text(console.seeded.owner).click()  # the user menu
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    await page.goto(f"{console.url}/apps/{console.seeded.app_id}/settings/secrets")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert console.csp == []
    assert page_errors == []


async def test_a_viewer_sees_read_only_settings_and_the_skip_link_works(page: Page, console: Console) -> None:
    await console.sign_in(page, console.seeded.viewer)
    await page.goto(f"{console.url}/apps/{console.seeded.app_id}/settings/members")
    await expect(page.get_by_text("read-only for you")).to_be_visible()
    await expect(page.get_by_role("button", name="Add member")).to_have_count(0)
    await console.check(page, "viewer-members")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    assert console.csp == []
