"""Issue 23's whole journey, in one browser test, on both backends: an owner signs in, edits a
template and watches the preview (an undefined variable shows as a problem and goes once
guarded), publishes; a backend sends through the HTTP API with the app's key; the owner finds
the notification in Activity with its timeline and sees the mail in the sandbox's inbox page;
the sandbox's SMTP server is broken with a fault, so the next send dies and the provider's
breaker shows open; the fault is lifted and the dead letter replayed (confirmed) is delivered.

Every page is screenshotted and checked by axe (`Console.check`). The clock is never waited
on: the breaker's cool-down is passed by moving the router's clock, retries are milliseconds
apart, and the workers run only while `Herald.drain` needs them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Dialog, Locator, Page, expect

from herald.config import RetrySettings
from herald.kit.channels import Channel
from herald.runtime import Runtime
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox
from herald.sandbox.smtp import SmtpSimulator
from tests.browser import test_console_ops
from tests.browser.console_pages import Console
from tests.browser.hosting import serve_aiohttp
from tests.harness import EMAIL_TEMPLATE, Herald

# Reports every 50 ms; a breaker that opens after 2 failures of 3 calls and stays open.
console = test_console_ops.console
WAIT = test_console_ops.WAIT
AFTER_REPLAY = ["accepted", "queued", "attempt", "attempt", "dead lettered", "replayed", "attempt"]
TEMPLATE = {**EMAIL_TEMPLATE, "sample_data": {"order_id": 41, "user": {"name": "Sam"}}}


@pytest.fixture
async def sandbox(smtp_sim: SmtpSimulator, inbox: Inbox) -> AsyncIterator[str]:
    """The sandbox's HTTP side (inbox page, fault controls) over the SMTP server Herald sends to."""
    async with serve_aiohttp(Sandbox([smtp_sim], inbox).app()) as origin:
        yield origin


@pytest.fixture
async def shop(runtime: Runtime, console: Console, inbox: Inbox) -> AsyncIterator[Herald]:
    """The app's backend (a shop): Herald's HTTP API over the network, with the app's key and secret."""
    origin = console.url.removesuffix("/console")
    auth = (console.seeded.app_key, console.seeded.app_secret)
    # uvicorn closes a keep-alive connection idle for 5 s, httpx keeps one as long: a call after
    # a browser step of about that length could be sent as the server closed it (ReadError).
    limits = httpx.Limits(keepalive_expiry=1)
    async with httpx.AsyncClient(base_url=origin, auth=auth, timeout=30, limits=limits) as api:
        yield Herald(runtime, api, inbox)


async def test_the_whole_journey(
    runtime: Runtime, page: Page, console: Console, shop: Herald, sandbox: str, page_errors: list[str]
) -> None:
    # Two failed calls make a dead letter: the retries are milliseconds apart.
    runtime.settings.retry = RetrySettings(base=timedelta(milliseconds=20), factor=1.0, max_attempts=2)
    await shop.user()  # Ada, ada@example.com
    await shop.template(body=TEMPLATE)
    stop = asyncio.Event()
    reporting = asyncio.create_task(runtime.report(stop))  # what the Queues page reads
    try:
        await console.sign_in(page, console.seeded.owner)  # Queues & providers is for owners
        await expect(page.get_by_role("status")).to_have_text("You are signed in.")
        await console.check(page, "signed-in")
        nav = page.get_by_role("navigation", name="App sections")

        await edit_preview_and_publish(page, console, nav)
        sent = await shop.notify(event_id="order-7-shipped")
        assert sent.status_code == 202, sent.text
        await shop.drain(channels=[Channel.EMAIL])
        await find_in_activity(page, console, nav, "order-7-shipped", ["accepted", "queued", "attempt"])
        await see_in_sandbox_inbox(page, console, sandbox, ["Order 7 ships today"])

        async with httpx.AsyncClient(base_url=sandbox) as control:  # as one would with curl
            broken = await control.put("/_sandbox/smtp/faults", json={"error_rates": {"451": 1.0}})
            assert broken.status_code == 200, broken.text
            assert (await shop.notify(event_id="order-8-shipped", data={"order_id": 8})).status_code == 202
            await shop.drain(channels=[Channel.EMAIL])  # 451 twice: a dead letter, and the breaker opens
            await page.goto(f"{console.url}/apps/{console.seeded.app_id}/")
            await nav.get_by_role("link", name="Queues").click()
            await expect(breaker(page)).to_have_text(re.compile(r"✕\s*Open"), timeout=WAIT)
            await console.check(page, "breaker-open")

            assert (await control.delete("/_sandbox/smtp/faults")).status_code == 200
        # The cool-down passes: the breaker lets one probe through, which the replay will be.
        runtime.router.clock = lambda: time.monotonic() + 3600
        await replay_the_dead_letter(page, console, nav, "order-8-shipped")
        await shop.drain(channels=[Channel.EMAIL])
        await find_in_activity(page, console, nav, "order-8-shipped", AFTER_REPLAY)
        await nav.get_by_role("link", name="Queues").click()
        await expect(breaker(page)).to_have_text(re.compile(r"Closed"), timeout=WAIT)  # the probe closed it
        await see_in_sandbox_inbox(page, console, sandbox, ["Order 8 ships today", "Order 7 ships today"])
    finally:
        stop.set()
        await reporting
    assert console.csp == []
    assert page_errors == []


def breaker(page: Page) -> Locator:
    return page.locator('tr[data-provider="smtp"] .breaker')


async def edit_preview_and_publish(page: Page, console: Console, nav: Locator) -> None:
    """Open the template the backend made; type an undefined variable and see the problem,
    guard it and see the problem go; save and publish the draft."""
    await nav.get_by_role("link", name="Templates").click()
    await page.get_by_role("link", name="order-shipped").click()
    subject = page.get_by_label("subject (email, default)")
    await expect(subject).to_have_value("Order {{ order_id }} shipped")
    preview = page.locator("#preview")
    await subject.fill("Order {{ order_id }} ships {{ ship_day }}")
    problem = preview.locator('li[data-kind="undefined_variable"]')
    await expect(problem).to_contain_text("ship_day")
    await expect(preview).to_contain_text("Order 41 ships")  # the sample data's order
    await console.check(page, "editor-problem")
    await subject.fill("Order {{ order_id }} ships {{ ship_day | default('today') }}")
    await expect(problem).to_have_count(0)
    await expect(preview).to_contain_text("Order 41 ships today")
    await expect(preview.get_by_role("heading", name="No problems found")).to_be_visible()
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.get_by_role("status")).to_contain_text("The draft is saved")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)
    await page.get_by_role("button", name="Publish the draft").click()
    await expect(page.get_by_role("status")).to_have_text("Version 2 is live.")
    await console.check(page, "published")


async def find_in_activity(page: Page, console: Console, nav: Locator, event_id: str, kinds: list[str]) -> None:
    """Search Activity for the event; its page: delivered by smtp, its timeline's steps
    (`kinds`) ending on a delivered attempt, and the content as rendered."""
    await nav.get_by_role("link", name="Activity").click()
    await page.get_by_label("Event id").fill(event_id)
    await page.get_by_role("button", name="Search").click()
    rows = page.locator("main table tbody tr")
    await expect(rows).to_have_count(1)
    await console.check(page, f"activity-{event_id}")
    await rows.get_by_role("link", name=event_id).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(event_id)
    delivery = page.locator("main table tbody tr")
    await expect(delivery).to_have_count(1)
    await expect(delivery).to_contain_text(re.compile(r"email\s*delivered\s*smtp"))
    await expect(page.locator("ol.timeline li .what")).to_have_text(kinds)
    await expect(page.locator("ol.timeline li").last).to_contain_text("→ delivered")
    await expect(page.locator(".content-card")).to_contain_text(re.compile(r"Order \d ships today"))
    await console.check(page, f"notification-{event_id}")


async def see_in_sandbox_inbox(page: Page, console: Console, sandbox: str, subjects: list[str]) -> None:
    """The sandbox's inbox page: the mails to Ada, newest first."""
    await page.goto(f"{sandbox}/_sandbox/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sandbox inbox")
    rows = page.locator('tr[data-provider="smtp"]')
    await expect(rows).to_have_count(len(subjects))
    for row, subject in zip(await rows.all(), subjects, strict=True):
        await expect(row).to_contain_text("ada@example.com")
        await expect(row).to_contain_text(subject)
        await expect(row).to_contain_text("email")
    await console.check(page, f"sandbox-inbox-{len(subjects)}")


async def replay_the_dead_letter(page: Page, console: Console, nav: Locator, event_id: str) -> None:
    """Dead letters: the one the fault made, filtered by provider, replayed after the confirmation."""
    await nav.get_by_role("link", name="Dead letters").click()
    dead = page.locator("main table tbody tr")
    await expect(dead).to_have_count(1)
    await expect(dead).to_contain_text(event_id)
    await expect(dead).to_contain_text("4.3.0")  # 451 4.3.0, the fault's reply
    await console.check(page, "dead-letters")
    await page.get_by_label("Provider").fill("smtp")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name="Replay all that match…").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Replay dead letters?")
    await console.check(page, "replay-confirm")
    await page.get_by_role("button", name="Replay 1 dead letter").click()
    await expect(page.get_by_role("status")).to_have_text("1 dead letter replayed.")
    await expect(page.get_by_text("No dead letter matches this filter.")).to_be_visible()
