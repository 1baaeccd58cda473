"""The `<herald-inbox>` web component in Chromium, against a fake Herald on another origin.

Everything the user sees is read through the page (roles, labels, text), everything the component sent
through the fake's record of requests.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Locator, Page, expect

from tests.browser.fake_herald import FakeHerald
from tests.browser.hosting import inbox_body, page_app, serve_aiohttp, serve_asgi

ALICE = "token-alice"
BOB = "token-bob"


@pytest.fixture
async def fake() -> AsyncIterator[FakeHerald]:
    fake = FakeHerald(origin="", tokens=(ALICE, BOB))
    async with serve_aiohttp(fake.app()) as url:
        fake.url = url
        yield fake
        await fake.close()


@pytest.fixture
async def host(fake: FakeHerald) -> AsyncIterator[str]:
    """The app's page, on its own origin, embedding the script from the fake Herald's."""
    body = inbox_body(f"{fake.url}/inbox/herald-inbox.js", fake.url, ALICE)
    async with serve_asgi(page_app(body)) as origin:
        fake.origin = origin
        yield origin


def bell(page: Page) -> Locator:
    return page.locator("herald-inbox").get_by_role("button", name=re.compile(r"^Notifications"))


def panel(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Notifications")


def items(page: Page) -> Locator:
    return page.locator("herald-inbox li")


async def load(page: Page, host: str, fake: FakeHerald, unread: int) -> None:
    """Open the host page and wait until the component shows `unread` and listens to its stream."""
    await page.goto(host)
    await expect(bell(page)).to_have_attribute("aria-label", f"Notifications, {unread} unread")
    await fake.wait_for(lambda: len(fake.streams) == 1)


async def test_the_badge_shows_the_unread_count_fetched_across_origins(
    page: Page, host: str, fake: FakeHerald, page_errors: list[str]
) -> None:
    fake.add(ALICE, "Old and read", read_at="2026-01-01T00:00:00+00:00")
    fake.add(ALICE, "Unread one")
    fake.add(ALICE, "Unread two")
    await load(page, host, fake, unread=2)
    await expect(page.locator("herald-inbox .badge")).to_have_text("2")
    # The bearer header makes every call a preflighted one: the fake answered them for the host's origin.
    assert any(hit.method == "OPTIONS" for hit in fake.hits)
    assert {hit.token for hit in fake.requests("GET", "/v1/me/feed")} == {ALICE}
    assert page_errors == []


async def test_a_pushed_item_appears_live_is_announced_and_raises_the_badge(
    page: Page, host: str, fake: FakeHerald, page_errors: list[str]
) -> None:
    fake.add(ALICE, "Already there")
    await load(page, host, fake, unread=1)
    sent = fake.push(ALICE, "Your order shipped", action_url="/orders/42").json()
    await expect(page.locator("herald-inbox .badge")).to_have_text("2")
    await expect(bell(page)).to_have_attribute("aria-label", "Notifications, 2 unread")
    await expect(page.locator("herald-inbox [role=status]")).to_have_text("New notification: Your order shipped")
    await bell(page).click()
    await expect(items(page).first).to_contain_text("Your order shipped")
    await expect(items(page)).to_have_count(2)
    events = await page.evaluate("window.heraldEvents")
    assert ["herald-inbox:item", sent] in events
    assert ["herald-inbox:counts", {"unread": 2, "unseen": 2}] in events
    assert page_errors == []


async def test_opening_the_dropdown_marks_the_items_shown_seen(page: Page, host: str, fake: FakeHerald) -> None:
    shown = [fake.add(ALICE, f"Item {n}") for n in range(3)]
    await load(page, host, fake, unread=3)
    assert fake.posted("seen") == []
    await bell(page).click()
    await expect(panel(page)).to_be_visible()
    await expect(bell(page)).to_have_attribute("aria-expanded", "true")
    await fake.wait_for(lambda: fake.counts(ALICE)["unseen"] == 0)
    assert sorted(fake.posted("seen")[0]) == sorted(item.id for item in shown)
    # Seen is not read: the badge counts unread.
    await expect(page.locator("herald-inbox .badge")).to_have_text("3")


async def test_clicking_an_item_marks_it_read_drops_the_badge_and_follows_its_link(
    page: Page, host: str, fake: FakeHerald
) -> None:
    fake.add(ALICE, "Other")
    target = fake.add(ALICE, "Your order shipped", action_url="/orders/42")
    await load(page, host, fake, unread=2)
    await bell(page).click()
    await items(page).filter(has_text="Your order shipped").get_by_role("button").first.click()
    await page.wait_for_url(f"{host}/orders/42")
    await fake.wait_for(lambda: fake.posted("read") == [[target.id]])
    assert fake.counts(ALICE)["unread"] == 1


async def test_clicking_an_item_without_a_link_stays_and_updates_the_badge(
    page: Page, host: str, fake: FakeHerald
) -> None:
    fake.add(ALICE, "Other")
    target = fake.add(ALICE, "Just news")
    await load(page, host, fake, unread=2)
    await bell(page).click()
    row = items(page).filter(has_text="Just news")
    await expect(row).to_have_class(re.compile(r"\bunread\b"))
    await row.get_by_role("button").first.click()
    await expect(page.locator("herald-inbox .badge")).to_have_text("1")
    await expect(row).not_to_have_class(re.compile(r"\bunread\b"))
    assert fake.posted("read") == [[target.id]]
    assert page.url == f"{host}/"


async def test_mark_all_as_read_clears_the_badge(page: Page, host: str, fake: FakeHerald) -> None:
    for n in range(4):
        fake.add(ALICE, f"Item {n}")
    await load(page, host, fake, unread=4)
    await bell(page).click()
    await page.get_by_role("button", name="Mark all as read").click()
    await expect(bell(page)).to_have_attribute("aria-label", "Notifications, 0 unread")
    await expect(page.locator("herald-inbox .badge")).to_be_hidden()
    await expect(page.locator("herald-inbox li.unread")).to_have_count(0)
    assert len(fake.requests("POST", "/v1/me/feed/read-all")) == 1


async def test_the_keyboard_opens_and_escape_closes_returning_focus(page: Page, host: str, fake: FakeHerald) -> None:
    fake.add(ALICE, "First")
    fake.add(ALICE, "Second")
    await load(page, host, fake, unread=2)
    await page.keyboard.press("Tab")
    await expect(bell(page)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(panel(page)).to_be_visible()
    await expect(panel(page)).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await expect(items(page).first.get_by_role("button").first).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(items(page).first.get_by_role("button", name="Archive: Second")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(panel(page)).to_be_hidden()
    await expect(bell(page)).to_have_attribute("aria-expanded", "false")
    await expect(bell(page)).to_be_focused()


async def test_a_dropped_stream_resumes_from_the_last_event_without_duplicates(
    page: Page, host: str, fake: FakeHerald
) -> None:
    fake.add(ALICE, "Before the page")
    await load(page, host, fake, unread=1)
    live = fake.push(ALICE, "Live")
    await expect(items(page)).to_have_count(2)
    # Sent while no stream is open: only the replay on reconnection can bring it.
    fake.drop_streams()
    missed = fake.push(ALICE, "Missed while away")
    await fake.wait_for(lambda: len(fake.requests("GET", "/v1/me/feed/stream")) == 2)
    assert fake.requests("GET", "/v1/me/feed/stream")[1].last_event_id == live.id
    await expect(page.locator("herald-inbox .badge")).to_have_text("3")
    await expect(items(page)).to_have_count(3)
    await bell(page).click()
    ids = await items(page).evaluate_all("rows => rows.map(row => row.dataset.id)")
    assert ids[:2] == [missed.id, live.id]
    assert len(set(ids)) == 3
    # The feed was fetched once: the reconnection was EventSource's own, not a reload.
    assert len(fake.requests("GET", "/v1/me/feed")) == 1


async def test_a_new_token_reconnects_as_the_other_user(page: Page, host: str, fake: FakeHerald) -> None:
    fake.add(ALICE, "For Alice")
    fake.add(BOB, "For Bob 1")
    fake.add(BOB, "For Bob 2")
    await load(page, host, fake, unread=1)
    await page.locator("herald-inbox").evaluate(f"el => el.setAttribute('token', '{BOB}')")
    await expect(bell(page)).to_have_attribute("aria-label", "Notifications, 2 unread")
    await fake.wait_for(lambda: [stream.token for stream in fake.streams] == [BOB])
    fake.push(ALICE, "Alice again")
    fake.push(BOB, "Bob again")
    await expect(page.locator("herald-inbox .badge")).to_have_text("3")
    await bell(page).click()
    await expect(items(page).locator(".title")).to_have_text(["Bob again", "For Bob 2", "For Bob 1"])


async def test_item_content_is_text_and_an_unsafe_link_is_not_followed(
    page: Page, host: str, fake: FakeHerald, page_errors: list[str]
) -> None:
    title = '<img src=x onerror="window.pwned = 1">'
    fake.add(ALICE, title, action_url="javascript:window.pwned = 2")
    await load(page, host, fake, unread=1)
    await bell(page).click()
    row = items(page).first
    await expect(row.locator(".title")).to_have_text(title)
    assert await page.locator("herald-inbox img").count() == 0
    await row.get_by_role("button").first.click()
    await fake.wait_for(lambda: len(fake.posted("read")) == 1)
    assert await page.evaluate("window.pwned") is None
    assert page.url == f"{host}/"
    assert page_errors == []


async def test_more_items_load_on_scroll_and_on_request(page: Page, host: str, fake: FakeHerald) -> None:
    made = [fake.add(ALICE, f"Item {n}") for n in range(45)]
    await load(page, host, fake, unread=45)
    await bell(page).click()
    await expect(items(page)).to_have_count(20)
    await page.locator("herald-inbox ul").evaluate("list => list.scrollTo(0, list.scrollHeight)")
    await expect(items(page)).to_have_count(40)
    await page.get_by_role("button", name="Load more").click()
    await expect(items(page)).to_have_count(45)
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    pages = fake.requests("GET", "/v1/me/feed")
    assert [hit.cursor for hit in pages] == [None, made[25].id, made[5].id]
    ids = await items(page).evaluate_all("rows => rows.map(row => row.dataset.id)")
    assert ids == [item.id for item in reversed(made)]


async def test_archive_removes_the_item_and_keeps_focus_in_the_list(page: Page, host: str, fake: FakeHerald) -> None:
    older = fake.add(ALICE, "Older")
    newer = fake.add(ALICE, "Newer")
    await load(page, host, fake, unread=2)
    await bell(page).click()
    await page.get_by_role("button", name="Archive: Newer").click()
    await expect(items(page)).to_have_count(1)
    await expect(items(page).get_by_role("button", name=re.compile("^Unread: Older"))).to_be_focused()
    await fake.wait_for(lambda: fake.posted("archive") == [[newer.id]])
    await expect(bell(page)).to_have_attribute("aria-label", "Notifications, 1 unread")
    assert [item.id for item in fake.feeds[ALICE] if item.archived_at is None] == [older.id]


async def test_the_open_dropdown_has_no_accessibility_violations(page: Page, host: str, fake: FakeHerald) -> None:
    fake.add(ALICE, "Read", read_at="2026-01-01T00:00:00+00:00")
    fake.add(ALICE, "Unread", action_url="https://example.com/x")
    await load(page, host, fake, unread=1)
    await bell(page).click()
    await expect(items(page)).to_have_count(2)
    results = await Axe().run(page)
    # axe-playwright-python's own report cannot print targets inside a shadow root (nested lists).
    found = [
        f"{rule['id']} ({rule['impact']}): {rule['help']} at {[node['target'] for node in rule['nodes']]}"
        for rule in results.response["violations"]
    ]
    assert found == []


async def test_the_component_works_under_a_strict_content_security_policy(
    page: Page, fake: FakeHerald, page_errors: list[str]
) -> None:
    """No inline style or script of its own: a host page without 'unsafe-inline' still gets a styled inbox."""
    fake.add(ALICE, "Under CSP")
    csp = f"default-src 'none'; script-src {fake.url} 'nonce-n0nce'; connect-src {fake.url}; style-src 'self'"
    body = inbox_body(f"{fake.url}/inbox/herald-inbox.js", fake.url, ALICE, nonce="n0nce")
    violations: list[str] = []
    page.on("console", lambda message: violations.extend([message.text] if "Content Security" in message.text else []))
    async with serve_asgi(page_app(body, csp=csp)) as origin:
        fake.origin = origin
        await load(page, origin, fake, unread=1)
        badge = page.locator("herald-inbox .badge")
        await expect(badge).to_have_css("background-color", "rgb(179, 38, 30)")
        await bell(page).click()
        await expect(items(page).locator(".title")).to_have_text(["Under CSP"])
    assert violations == []
    assert page_errors == []
