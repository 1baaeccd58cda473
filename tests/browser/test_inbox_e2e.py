"""The in-app channel end to end, in Chromium, on both backends: an app's page embeds Herald's
inbox; a notification sent through the API appears live, and reading it drops the badge.

Herald (API, and workers run by the test) serves on one origin and the app's page on another,
so the component's calls are cross-origin, allowed by the app's origins as in production.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Locator, Page, expect

from herald.api.app import create_app
from herald.kit.channels import Channel
from tests.browser.hosting import inbox_body, page_app, serve_asgi
from tests.harness import Herald, end_user_token

IN_APP = {"title": "Order {{ order_id }} shipped", "body": "Hi {{ user.name }}, it is on its way."}


def bell(page: Page) -> Locator:
    return page.locator("herald-inbox").get_by_role("button", name=re.compile(r"^Notifications"))


def badge(page: Page) -> Locator:
    return page.locator("herald-inbox .badge")


@pytest.fixture
async def workers(herald: Herald) -> AsyncIterator[None]:
    """The in-app channel's worker, as `herald run` would run it, for the whole test."""
    stop = asyncio.Event()
    task = asyncio.create_task(herald.runtime.worker(Channel("in_app")).run(stop))
    yield
    stop.set()
    await task


@pytest.mark.usefixtures("workers")
async def test_a_notification_appears_live_and_reading_it_drops_the_badge(
    page: Page, herald: Herald, page_errors: list[str]
) -> None:
    await herald.user()
    token = await end_user_token(herald.client, "42")
    async with serve_asgi(create_app(herald.runtime.api_services())) as api:
        body = inbox_body(f"{api}/inbox/herald-inbox.js", api, token)
        async with serve_asgi(page_app(body)) as host:
            r = await herald.client.put("/v1/app/settings", json={"allowed_origins": [host]})
            assert r.status_code == 200, r.text
            await page.goto(host)
            await expect(bell(page)).to_have_attribute("aria-label", "Notifications, 0 unread")

            # A link to a page of the app itself: the page a click lands on.
            content = {"in_app": {**IN_APP, "action_url": "/orders/{{ order_id }}"}}
            sent = await herald.notify(template=None, content=content, channels=["in_app"], data={"order_id": 7})
            assert sent.status_code == 202, sent.text
            await expect(badge(page)).to_have_text("1", timeout=20_000)
            await expect(bell(page)).to_have_attribute("aria-label", "Notifications, 1 unread")

            await bell(page).click()
            item = page.locator("herald-inbox li").filter(has_text="Order 7 shipped")
            await expect(item).to_contain_text("Hi Ada Lovelace, it is on its way.")
            violations = await Axe().run(page)
            assert violations.violations_count == 0, violations.generate_snapshot()

            await item.get_by_role("button").first.click()  # reads it, and follows its link
            await page.wait_for_url(f"{host}/orders/7")
            # The read goes out as a keepalive request that outlives the page: it may still be
            # on its way (it also records the delivery's open) when the next page is there.
            async with asyncio.timeout(10):
                while (await herald.client.get("/v1/users/42/feed/counts")).json()["unread"] != 0:
                    await asyncio.sleep(0.05)
    assert page_errors == []
