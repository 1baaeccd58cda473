"""Signing in and out: one answer for a wrong password and an unknown email, the lockout per
email and per address, sessions that end (idle, lifetime, sign-out, password change), and
cookies that cannot be read by scripts or replayed once revoked."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from herald.api.app import create_app
from herald.config import ConsoleSettings, Mode
from herald.console import service
from herald.console.models import ConsoleSession
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.runtime import Runtime
from tests.console.seed import PASSWORD, Browse, ConsoleClient, Seeded


class Clock:
    """The console service's clock, moved by the test instead of waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(service, "utcnow", c)
    return c


@pytest.fixture
def lockout(runtime: Runtime) -> ConsoleSettings:
    """Three failures lock an email, ten an address, for ten minutes (the runtime's settings)."""
    runtime.settings.console = ConsoleSettings(
        lockout_failures=3, lockout_address_failures=10, lockout_duration=timedelta(minutes=10)
    )
    return runtime.settings.console


async def test_signing_in_opens_a_session_whose_token_is_stored_only_as_a_hash(
    browse: Browse, seeded: Seeded, runtime: Runtime
) -> None:
    c = await browse()
    assert (await c.get("/console/")).headers["location"].startswith("/console/login")
    r = await c.login(seeded.owner.upper())  # case does not matter
    assert r.status_code == 303
    [cookie] = [c for c in r.headers.get_list("set-cookie") if c.startswith("herald_console=")]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = c.http.cookies["herald_console"]
    home = await c.get(f"/console/apps/{seeded.app_id}/")
    assert home.status_code == 200 and "alpha" in home.text
    async with transaction(runtime.sessions) as session:
        stored = (await session.scalars(select(ConsoleSession.token_hash))).all()
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(browse: Browse, seeded: Seeded) -> None:
    c = await browse()
    wrong = await c.login(seeded.owner, "not the password at all")
    unknown = await c.login("nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or the password is not right." in wrong.text
    assert wrong.text.replace(seeded.owner, "E") == unknown.text.replace("nobody@example.com", "E")
    assert "herald_console" not in c.http.cookies


async def test_repeated_failures_lock_the_email_known_or_not_until_the_lock_ends(
    browse: Browse, seeded: Seeded, lockout: ConsoleSettings, clock: Clock
) -> None:
    c = await browse()
    for email in (seeded.viewer, "ghost@example.com"):
        answers = [(await c.login(email, "wrong password!")).status_code for _ in range(3)]
        assert answers == [401, 401, 429]
        locked = await c.login(email, PASSWORD)
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
        assert "Try again in 10 minutes" in locked.text
    assert (await (await browse()).login(seeded.owner)).status_code == 303  # the address is not locked (6 < 10)
    clock.offset = timedelta(minutes=11)
    assert (await c.login(seeded.viewer)).status_code == 303


async def test_failures_from_one_address_lock_that_address_for_every_email(
    browse: Browse, seeded: Seeded, lockout: ConsoleSettings
) -> None:
    lockout.lockout_address_failures = 5
    c = await browse()
    emails = [f"guess{i}@example.com" for i in range(4)] + [seeded.editor]
    assert [(await c.login(e, "wrong password!")).status_code for e in emails] == [401, 401, 401, 401, 429]
    assert (await c.login(seeded.owner)).status_code == 429


async def test_a_session_ends_when_idle_and_at_its_lifetime(
    browse: Browse, seeded: Seeded, runtime: Runtime, clock: Clock
) -> None:
    runtime.settings.console = ConsoleSettings(session_idle=timedelta(minutes=30), session_lifetime=timedelta(hours=2))
    page = f"/console/apps/{seeded.app_id}/settings/members"
    c = await browse()
    await c.login(seeded.owner)
    for minutes in (25, 50, 75, 100):  # each visit within the idle time keeps it alive...
        clock.offset = timedelta(minutes=minutes)
        assert (await c.get(page)).status_code == 200
    clock.offset = timedelta(minutes=121)  # ...but not past its lifetime
    assert (await c.get(page)).headers["location"] == f"/console/login?next={page.removeprefix('/console')}"

    idle = await browse()
    clock.offset = timedelta(0)
    await idle.login(seeded.owner)
    clock.offset = timedelta(minutes=31)
    assert (await idle.get(page)).status_code == 303


async def test_signing_out_revokes_the_session_not_only_the_cookie(browse: Browse, seeded: Seeded) -> None:
    c = await browse()
    await c.login(seeded.owner)
    token = c.http.cookies["herald_console"]
    out = await c.post("/console/logout")
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    replay = await browse()
    replay.http.cookies.set("herald_console", token)
    assert (await replay.get("/console/account")).status_code == 303


async def test_a_password_change_ends_every_other_session(browse: Browse, seeded: Seeded, runtime: Runtime) -> None:
    first, second = await browse(), await browse()
    await first.login(seeded.editor)
    await second.login(seeded.editor)
    wrong = await first.post("/console/account/password", {"current": "not it at all", "password": "a new password 1"})
    assert wrong.status_code == 422 and "not your current password" in wrong.text
    changed = await first.post("/console/account/password", {"current": PASSWORD, "password": "a new password 1"})
    assert changed.status_code == 303
    assert (await first.get("/console/account")).status_code == 200
    assert (await second.get("/console/account")).status_code == 303
    async with transaction(runtime.sessions) as session:
        await service.reset_password(session, seeded.editor, "yet another password")
    assert (await first.get("/console/account")).status_code == 303
    assert (await first.login(seeded.editor, "yet another password")).status_code == 303


async def test_production_cookies_are_secure_and_host_prefixed(runtime: Runtime, seeded: Seeded) -> None:
    production = replace(runtime.api_services(), settings=runtime.settings.model_copy(update={"mode": Mode.PRODUCTION}))
    c = ConsoleClient(create_app(production), origin="https://herald.test")  # Secure cookies need https
    try:
        page = await c.get("/console/login")
        assert "__Host-herald_console_csrf=" in page.headers["set-cookie"]
        assert "Secure" in page.headers["set-cookie"] and "Path=/" in page.headers["set-cookie"]
        r = await c.login(seeded.owner)
        assert r.status_code == 303
        [cookie] = [c for c in r.headers.get_list("set-cookie") if c.startswith("__Host-herald_console=")]
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/;" in cookie
    finally:
        await c.aclose()


async def test_next_only_leads_inside_the_console(browse: Browse, seeded: Seeded) -> None:
    c = await browse()
    page = await c.get("/console/login?next=//evil.example/")
    assert 'name="next" value="/"' in page.text
