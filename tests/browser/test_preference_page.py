"""The hosted preference page in Chromium, on both backends: a user comes from the app with
their token, turns a category off with the keyboard alone, saves, and sees it saved; axe-core
finds no serious or critical accessibility problem, on a pale brand colour too."""

from __future__ import annotations

from pathlib import Path

from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Page, expect

from herald.api.app import create_app
from tests.browser.hosting import serve_asgi
from tests.harness import Herald, end_user_token
from tests.preferences.pagekit import CATALOGUE, catalogue

# A pale yellow: the page must put dark text on it.
BRANDED = {**CATALOGUE, "branding": {"name": "Sunny Shop", "colour": "#ffee58"}}


async def serious_violations(page: Page) -> list[str]:
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']})" for v in results.response["violations"] if v["impact"] in ("serious", "critical")
    ]


async def test_a_user_changes_a_preference_with_the_keyboard(
    page: Page, herald: Herald, page_errors: list[str], tmp_path: Path
) -> None:
    await catalogue(herald.client, BRANDED)
    await herald.user("42")
    token = await end_user_token(herald.client, "42")
    async with serve_asgi(create_app(herald.runtime.api_services())) as api:
        await page.goto(f"{api}/preferences?token={token}")
        assert token not in page.url and "/preferences/" in page.url  # exchanged for the page's own token
        await expect(page.get_by_role("heading", name="Notification preferences")).to_be_visible()
        assert await serious_violations(page) == []

        orders = page.get_by_role("group", name="Order updates")
        email = orders.get_by_role("checkbox", name="Email")
        await expect(email).to_be_checked()
        locked = page.get_by_role("group", name="Security alerts").get_by_role("checkbox", name="Email")
        await expect(locked).to_be_disabled()
        await expect(locked).to_be_checked()

        # Tab from the top of the page to the switch, as a keyboard user would.
        for _ in range(20):
            await page.keyboard.press("Tab")
            if await email.evaluate("e => e === document.activeElement"):
                break
        else:
            raise AssertionError("Tab never reached the Email switch of Order updates")
        await page.keyboard.press("Space")
        await expect(email).not_to_be_checked()
        await page.keyboard.press("Enter")  # submits the form from a checkbox, as browsers do

        await expect(page.get_by_role("status")).to_have_text("Your preferences are saved.")
        await expect(
            page.get_by_role("group", name="Order updates").get_by_role("checkbox", name="Email")
        ).not_to_be_checked()
        assert await serious_violations(page) == []
        await page.screenshot(path=tmp_path / "browser" / "preferences-saved.png", full_page=True)

        # A phone's width: nothing scrolls sideways, and it is as accessible.
        await page.set_viewport_size({"width": 360, "height": 740})
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        assert await serious_violations(page) == []
        await page.screenshot(path=tmp_path / "browser" / "preferences-phone.png", full_page=True)

    prefs = (await herald.client.get("/v1/users/42/preferences")).json()
    assert prefs["categories"] == {"orders": {"enabled": None, "channels": {"email": False}}}
    assert page_errors == []
