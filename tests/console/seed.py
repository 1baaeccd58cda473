"""Console users for the tests: two apps, a member of each role in the first, an outsider who
owns only the second; and an HTTP client that signs in and sends forms with their CSRF token."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from herald.apps.service import create_app as create_client_app
from herald.console import service
from herald.console.routes import PAGES
from herald.console.schemas import Role
from herald.kit.db import transaction
from herald.runtime import Runtime

PASSWORD = "correct horse battery staple"
ORIGIN = "http://herald.test"
_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass(frozen=True)
class Seeded:
    app_id: uuid.UUID
    app_key: str
    app_secret: str
    other_app_id: uuid.UUID
    owner: str = "owner@example.com"
    editor: str = "editor@example.com"
    viewer: str = "viewer@example.com"
    outsider: str = "outsider@example.com"


async def seed(runtime: Runtime) -> Seeded:
    async with transaction(runtime.sessions) as session:
        alpha = await create_client_app(session, "alpha", runtime.pepper)
        beta = await create_client_app(session, "beta", runtime.pepper)
        seeded = Seeded(alpha.app_id, alpha.key, alpha.secret, beta.app_id)
        for email, role in [(seeded.owner, Role.OWNER), (seeded.editor, Role.EDITOR), (seeded.viewer, Role.VIEWER)]:
            await service.create_user(session, email, PASSWORD)
            await service.add_member(session, alpha.app_id, email, role)
        await service.create_user(session, seeded.outsider, PASSWORD)
        await service.add_member(session, beta.app_id, seeded.outsider, Role.OWNER)
    return seeded


def csrf_of(html: str) -> str:
    found = _TOKEN.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


class ConsoleClient:
    """A browser-like client of /console: keeps cookies, finds each page's CSRF token."""

    def __init__(self, app: ASGIApp, origin: str = ORIGIN) -> None:
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4711)), base_url=origin, timeout=30
        )
        self.token = ""

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path)

    async def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.http.get("/console/login")
        r = await self.http.post(
            "/console/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)}
        )
        if r.status_code == 303:
            self.token = csrf_of((await self.http.get("/console/account")).text)
        return r

    async def post(self, path: str, data: Mapping[str, str | list[str]] | None = None) -> httpx.Response:
        return await self.http.post(path, data={"csrf_token": self.token, **(data or {})})

    async def aclose(self) -> None:
        await self.http.aclose()


def console_routes(methods: set[str]) -> list[tuple[str, str]]:
    """(method, path template) of every console route answering one of `methods`, from the
    page registry the console app is built from: a page added later is in the list without
    anyone adding it to a test."""
    return [
        (method, "/console" + route.path)
        for page in PAGES
        for route in page.router.routes
        if isinstance(route, APIRoute)
        for method in sorted((route.methods or set()) & methods)
    ]


def fill(path: str, app_id: uuid.UUID) -> str:
    """A route's path with its parameters filled: the app's id, a made-up value for the rest."""
    path = path.replace("{app_id}", str(app_id))
    return re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("_id") else "sample", path)


# New console clients (browsers) on one Herald app: the `browse` fixture.
Browse = Callable[[], Awaitable["ConsoleClient"]]


async def signed_in(browse: Browse, email: str) -> ConsoleClient:
    """A new browser signed in as `email` (with the seeded password)."""
    c = await browse()
    assert (await c.login(email)).status_code == 303
    return c
