"""Servers for the browser to load: apps on free loopback ports, and a host page embedding the inbox.

The host page plays the app that embeds Herald's component, so it is served from its own origin and
loads the script from Herald's: the component's calls are then cross-origin, as in production.
"""

from __future__ import annotations

import asyncio
import html
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from aiohttp import web
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp


@asynccontextmanager
async def serve_asgi(app: ASGIApp) -> AsyncIterator[str]:
    """Serve an ASGI app (Herald's own, a host page) with uvicorn on a free port; yields its origin."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # A short graceful shutdown: the browser may still hold an event stream open at teardown.
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serve_aiohttp(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp app on a free port; yields its origin."""
    # Handlers cancelled when their client goes, and a short shutdown, keep an open event stream
    # from holding the teardown for aiohttp's default minute.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def page_app(body: str, title: str = "Host app", csp: str | None = None) -> Starlette:
    """An app whose every path answers one page with `body` (and `csp` as its Content-Security-Policy):
    a link the component follows lands on it too."""
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body>{body}</body></html>"
    )

    async def answer(request: Request) -> HTMLResponse:
        return HTMLResponse(document, headers={"Content-Security-Policy": csp} if csp else None)

    return Starlette(routes=[Route("/{path:path}", answer)])


def inbox_body(script_url: str, api: str, token: str, nonce: str = "") -> str:
    """A page body with `<herald-inbox>` as its first focusable element, recording the component's events
    in `window.heraldEvents` as [name, detail] pairs."""
    attrs = f'api="{html.escape(api)}" token="{html.escape(token)}" locale="en"'
    return f"""
<header><h1>Host app</h1><herald-inbox {attrs}></herald-inbox></header>
<main><p>The app's own content.</p><a href="#after">A link after the inbox</a></main>
<script nonce="{html.escape(nonce)}">
  window.heraldEvents = [];
  for (const name of ["herald-inbox:item", "herald-inbox:counts", "herald-inbox:error"]) {{
    document.addEventListener(name, (e) => window.heraldEvents.push([name, e.detail]));
  }}
</script>
<script src="{html.escape(script_url)}"></script>
"""
