"""The operator pages in Chromium, on both backends: Queues & providers shows a provider the
sandbox breaks with its breaker open after the page refreshes itself, and draws its charts;
Analytics draws its daily chart and its tables, and sorts a breakdown. Axe on each page,
screenshots kept, no Content-Security-Policy report, no script error."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
from playwright.async_api import Page, expect

from herald.config import BreakerSettings, MonitorSettings
from herald.events.service import Recorded
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.runtime import Runtime
from herald.sandbox.faults import FaultSettings
from herald.sandbox.smtp import SmtpSimulator
from tests.analytics.seeding import publish, recorded
from tests.browser.console_pages import Console, served_console
from tests.harness import Herald

WAIT = 30_000  # ms: a poll every 5 s and a report every 50 ms; the wait ends as soon as the text shows


@pytest.fixture
async def console(runtime: Runtime, page: Page, request: pytest.FixtureRequest) -> AsyncIterator[Console]:
    # Reports often, and a breaker that opens after three failures of four and stays open.
    runtime.settings.monitor = MonitorSettings(report_interval=timedelta(milliseconds=50))
    runtime.router.breaker_settings = BreakerSettings(
        window=4, min_calls=3, failure_ratio=0.5, cooldown=timedelta(hours=1)
    )
    async with served_console(runtime, page, request) as served:
        yield served


async def test_a_broken_provider_shows_open_on_the_queues_page(
    page: Page, console: Console, herald: Herald, smtp_sim: SmtpSimulator, page_errors: list[str]
) -> None:
    runtime = herald.runtime
    stop = asyncio.Event()
    reporting = asyncio.create_task(runtime.report(stop))
    try:
        await herald.user()
        await herald.template()
        for _ in range(4):
            assert (await herald.notify()).status_code == 202
        await herald.drain()  # the sandbox accepts: smtp's breaker is closed, its calls counted

        await console.sign_in(page, console.seeded.owner)
        await page.get_by_role("navigation", name="App sections").get_by_role("link", name="Queues").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Queues & providers")
        smtp = page.locator('tr[data-provider="smtp"]')
        await expect(smtp).to_contain_text("Closed", timeout=WAIT)
        await expect(page.locator('[data-chart="throughput"] canvas')).to_be_visible()
        await expect(page.locator('[data-chart="latency"] canvas')).to_be_visible()
        await page.locator(".history-table summary").click()  # the charts' table
        minute = page.locator(".history-table tbody tr").first
        await expect(minute).to_be_visible()
        await console.check(page, "queues")

        smtp_sim.faults.configure(FaultSettings(error_rates={"451": 1.0}))  # every send: 451, try later
        for _ in range(4):
            await herald.notify()
        working = asyncio.Event()
        worker = asyncio.create_task(runtime.worker(Channel.EMAIL).run(working))
        try:
            await expect(smtp).to_contain_text("Open", timeout=WAIT)  # the page polled, nobody reloaded it
        finally:
            working.set()
            await worker
        await expect(smtp.locator(".breaker")).to_have_text(re.compile(r"✕\s*Open"))
        await expect(page.locator(".history-table")).to_have_attribute("open", "")  # kept open across refreshes
        await console.check(page, "queues-breaker-open")
    finally:
        stop.set()
        await reporting
    assert console.csp == []
    assert page_errors == []


async def test_analytics_draws_its_chart_and_tables(
    runtime: Runtime, page: Page, console: Console, page_errors: list[str]
) -> None:
    app = console.seeded.app_id
    today = datetime.combine(utcnow().date(), time(2), UTC)
    events: list[Recorded] = []
    for days, template, sent in ((0, "welcome", 12), (2, "reset", 30), (5, "welcome", 4)):
        at = today - timedelta(days=days)
        events += [recorded(app, "sent", at, template=template) for _ in range(sent)]
        events += [recorded(app, "delivered", at, template=template) for _ in range(sent - 1)]
        events += [recorded(app, "opened", at, template=template) for _ in range(sent // 2)]
    await publish(runtime.engine, events)

    await console.sign_in(page, console.seeded.viewer)  # a viewer reads analytics
    await page.get_by_role("navigation", name="App sections").get_by_role("link", name="Analytics").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Analytics")
    await page.get_by_label("Last 7 days").check()
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator('[data-total="sent"]')).to_have_text("46")
    await expect(page.locator('[data-chart="analytics"] canvas')).to_be_visible()
    templates = page.locator('table[data-breakdown="template"] tbody th')
    await expect(templates).to_have_text(["reset", "welcome"])
    await expect(page.locator('table[data-breakdown="channel"] tbody th')).to_have_text(["email"])
    await console.check(page, "analytics")

    by_template = page.locator('table[data-breakdown="template"]')
    await by_template.get_by_role("link", name=re.compile("^Open rate")).click()
    await expect(by_template.locator('th[aria-sort="descending"]')).to_contain_text("Open rate")
    await expect(templates).to_have_text(["welcome", "reset"])  # 8 opened of 14 delivered against 15 of 29
    await by_template.get_by_role("link", name=re.compile("^Open rate")).click()
    await expect(templates).to_have_text(["reset", "welcome"])  # ascending
    await expect(page).to_have_url(re.compile(r"sort=open_rate&dir=asc#by-template$"))

    await page.get_by_label("Custom").check()
    await page.get_by_label("First day").fill("2026-03-12")
    await page.get_by_label("Last day").fill("2026-03-10")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("alert")).to_contain_text("must not come before")
    await console.check(page, "analytics-bad-period")
    assert console.csp == []
    assert page_errors == []
