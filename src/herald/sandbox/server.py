"""The sandbox: every provider simulator, one shared inbox, one control API.

HTTP/1.1 simulators (FCM, web push, Twilio, Vonage, SendGrid) mount their real paths on one
aiohttp server; APNs (HTTP/2 over TLS) and SMTP run their own listeners. Control routes live
under `/_sandbox/`, which no real provider path starts with; `/_sandbox/` itself is the inbox
as a page for people (`inbox_page`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from aiohttp import web

from herald.sandbox import inbox_page
from herald.sandbox.callbacks import control_routes, find_in
from herald.sandbox.faults import Faults, FaultSettings
from herald.sandbox.inbox import Inbox, InboxEntry


class Simulator(Protocol):
    name: str
    faults: Faults

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        """Routes on the shared HTTP server; empty for simulators with their own listener."""

    async def start(self) -> None:
        """Open the simulator's own listener, if it has one."""

    async def stop(self) -> None: ...


async def drop_connection(request: web.Request) -> web.StreamResponse:
    """Accept-then-drop: abort the TCP connection so the client sees no answer at all."""
    if request.transport is not None:
        request.transport.abort()
    raise ConnectionResetError("sandbox fault: connection dropped after accepting")


class Sandbox:
    def __init__(self, simulators: Iterable[Simulator], inbox: Inbox) -> None:
        self.inbox = inbox
        self.simulators = {s.name: s for s in simulators}
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def simulator(self, name: str) -> Simulator:
        return self.simulators[name]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        for sim in self.simulators.values():
            app.add_routes(list(sim.routes()))
        app.add_routes(
            [
                web.get("/_sandbox/", self._page),
                web.get("/_sandbox/health", self._health),
                web.get("/_sandbox/inbox", self._inbox),
                web.get("/_sandbox/inbox/visible", self._visible),
                web.delete("/_sandbox/inbox", self._clear),
                web.get("/_sandbox/inbox/summary", self._summary),
                web.get("/_sandbox/inbox/timestamps", self._timestamps),
                web.get("/_sandbox/{sim}/faults", self._get_faults),
                web.put("/_sandbox/{sim}/faults", self._put_faults),
                web.delete("/_sandbox/{sim}/faults", self._reset_faults),
                web.post("/_sandbox/{sim}/revoke", self._revoke),
            ]
        )
        app.add_routes(control_routes(find_in(self.simulators)))
        return app

    async def start(self, host: str, port: int) -> int:
        for sim in self.simulators.values():
            await sim.start()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        for sim in self.simulators.values():
            await sim.stop()

    def _sim(self, request: web.Request) -> Simulator:
        name = request.match_info["sim"]
        if name not in self.simulators:
            raise web.HTTPNotFound(text=f"no simulator {name!r}")
        return self.simulators[name]

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"simulators": sorted(self.simulators), "messages": len(self.inbox)})

    def _matching(self, request: web.Request, limit: int) -> tuple[list[InboxEntry], int]:
        """The newest `limit` (or the query's) entries of the query's `provider`, `destination`
        and `since`, oldest first, and how many matched."""
        q = request.query
        try:
            since, limit = int(q.get("since", 0)), int(q.get("limit", limit))
        except ValueError:
            raise web.HTTPBadRequest(text="`since` and `limit` are whole numbers") from None
        entries = self.inbox.entries(provider=q.get("provider"), destination=q.get("destination"), since_seq=since)
        return entries[-limit:], len(entries)

    async def _inbox(self, request: web.Request) -> web.Response:
        entries, total = self._matching(request, 1000)
        return web.json_response({"messages": [e.to_json() for e in entries], "total": total})

    async def _page(self, request: web.Request) -> web.Response:
        entries, total = self._matching(request, 50)
        return web.Response(
            text=inbox_page.render(entries, total),
            content_type="text/html",
            headers={"Content-Security-Policy": inbox_page.CSP, "Cache-Control": "no-store"},
        )

    async def _visible(self, request: web.Request) -> web.Response:
        dest = request.query.get("destination", "")
        return web.json_response({"messages": [e.to_json() for e in self.inbox.visible(dest)]})

    async def _summary(self, _: web.Request) -> web.Response:
        return web.json_response({"keys": self.inbox.summary(), "total": len(self.inbox)})

    async def _timestamps(self, request: web.Request) -> web.Response:
        rows = self.inbox.timestamps(int(request.query.get("since", 0)))
        return web.json_response({"rows": rows})

    async def _clear(self, _: web.Request) -> web.Response:
        self.inbox.clear()
        return web.json_response({"cleared": True})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._sim(request).faults.describe())

    async def _put_faults(self, request: web.Request) -> web.Response:
        sim = self._sim(request)
        sim.faults.configure(FaultSettings.model_validate(await request.json()))
        return web.json_response(sim.faults.describe())

    async def _reset_faults(self, request: web.Request) -> web.Response:
        sim = self._sim(request)
        sim.faults.reset()
        return web.json_response(sim.faults.describe())

    async def _revoke(self, request: web.Request) -> web.Response:
        sim = self._sim(request)
        body: dict[str, Any] = await request.json()
        sim.faults.revoked.add(str(body["destination"]))
        return web.json_response(sim.faults.describe())
