"""A customer's endpoint for the simulators' callbacks, on loopback, for the tests.

It keeps every request exactly as it arrived (URL with query, headers, raw body, form) so
a test can verify the signature the way a real receiver would, and can be told to answer
the next requests with an error to exercise the simulators' retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Received:
    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]  # the urlencoded body's fields, or the query's for a GET


@dataclass
class Receiver:
    base: str = ""
    calls: list[Received] = field(default_factory=list)
    # Statuses to answer the next requests with, in order; then 200.
    answers: list[int] = field(default_factory=list)
    failed: int = 0

    def url(self, path: str = "/hook", query: str = "") -> str:
        return self.base + path + (f"?{query}" if query else "")

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "GET":
            form = dict(request.query)
        elif request.content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        else:
            form = {}
        status = self.answers.pop(0) if self.answers else 200
        if status >= 300:
            self.failed += 1
        else:
            self.calls.append(Received(str(request.url), request.method, dict(request.headers), body, form))
        return web.Response(status=status)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", box._receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.base = f"http://127.0.0.1:{port}"
    try:
        yield box
    finally:
        await runner.cleanup()
