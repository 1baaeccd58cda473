"""An in-memory Herald that speaks the end-user feed API, for testing the component on its own.

It follows the contract the real API implements (bearer token, CORS for one allowed origin, the feed,
counts, state changes and the SSE stream with Last-Event-ID replay) and records what the browser asked,
so a test can check both what the user sees and what the component sent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

import herald

SCRIPT = Path(herald.__file__).parent / "feed" / "static" / "herald-inbox.js"
STATES = {"read": "read_at", "seen": "seen_at", "archive": "archived_at"}
UNDO = {"unread": "read_at", "unarchive": "archived_at"}


def now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Item:
    title: str
    body: str
    action_url: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    notification_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=now)
    seen_at: str | None = None
    read_at: str | None = None
    archived_at: str | None = None

    def json(self) -> dict[str, Any]:
        return {**self.__dict__, "category": None, "data": {"source": "fake"}}


@dataclass
class Hit:
    """One request the fake answered (preflights included)."""

    method: str
    path: str
    token: str | None
    body: Any = None
    cursor: str | None = None
    last_event_id: str | None = None


@dataclass
class Stream:
    token: str
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class FakeHerald:
    """Feeds keyed by end-user token (one token, one user); only `origin` may call it cross-origin."""

    def __init__(self, origin: str, tokens: tuple[str, ...] = ("token-alice",)) -> None:
        self.origin = origin
        self.url = ""
        self.feeds: dict[str, list[Item]] = {token: [] for token in tokens}
        self.hits: list[Hit] = []
        self.streams: list[Stream] = []
        self._changed = asyncio.Condition()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._cors])
        app.router.add_get("/inbox/herald-inbox.js", self._script)
        app.router.add_get("/v1/me/feed", self._list)
        app.router.add_get("/v1/me/feed/counts", self._counts)
        app.router.add_get("/v1/me/feed/stream", self._stream)
        app.router.add_post("/v1/me/feed/read-all", self._read_all)
        app.router.add_post("/v1/me/feed/{action}", self._change)
        app.router.add_delete("/v1/me/feed/{id}", self._delete)
        return app

    # What a test does.

    def add(self, token: str, title: str, **fields: Any) -> Item:
        """Put an item in a feed without telling anyone, as if it predated the page."""
        item = Item(title=title, body=f"Body of {title}", **fields)
        self.feeds[token].append(item)
        return item

    def push(self, token: str, title: str, **fields: Any) -> Item:
        """Deliver an item now: it goes to every open stream of its user, then the new counts."""
        item = self.add(token, title, **fields)
        self._send(token, "item", item.json(), item.id)
        self._send(token, "counts", self.counts(token))
        return item

    def drop_streams(self) -> None:
        """End every open stream, as a restarting server or a proxy's idle timeout does."""
        for stream in self.streams:
            stream.queue.put_nowait(None)

    def counts(self, token: str) -> dict[str, int]:
        live = [item for item in self.feeds[token] if item.archived_at is None]
        return {
            "unread": sum(item.read_at is None for item in live),
            "unseen": sum(item.seen_at is None for item in live),
        }

    def posted(self, action: str) -> list[list[str]]:
        """The ids of each POST /v1/me/feed/<action>, in order."""
        return [hit.body["ids"] for hit in self.hits if hit.method == "POST" and hit.path.endswith(f"/{action}")]

    def requests(self, method: str, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.method == method and hit.path == path]

    async def wait_for(self, ready: Callable[[], object], timeout: float = 10.0) -> None:
        """Wait until `ready()` holds after a request or a stream change (a condition, not a delay)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), timeout)

    async def close(self) -> None:
        self.drop_streams()

    # The HTTP side.

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _send(self, token: str, event: str, data: object, event_id: str | None = None) -> None:
        head = f"id: {event_id}\n" if event_id else ""
        chunk = f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"
        for stream in self.streams:
            if stream.token == token:
                stream.queue.put_nowait(chunk)

    @web.middleware
    async def _cors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        allowed = request.headers.get("Origin") == self.origin
        if request.method == "OPTIONS":
            await self._record(request, None)
            if not allowed:
                return web.Response(status=403)
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": self.origin,
                    "Access-Control-Allow-Methods": "GET, POST, DELETE",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type",
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            # Raised answers skip the headers below otherwise, and the browser would see a CORS failure.
            response = web.Response(status=exc.status, text=exc.text, content_type=exc.content_type)
        if allowed and not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = self.origin
            response.headers["Vary"] = "Origin"
        return response

    async def _record(self, request: web.Request, token: str | None) -> None:
        body = await request.json() if request.can_read_body else None
        self.hits.append(
            Hit(
                request.method,
                request.path,
                token,
                body,
                request.query.get("cursor"),
                request.headers.get("Last-Event-ID"),
            )
        )
        await self._notify()

    async def _user(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        token = request.query.get("token") if request.path.endswith("/stream") else header.removeprefix("Bearer ")
        await self._record(request, token)
        if token not in self.feeds:
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": {"code": "unauthenticated", "message": "Bad token", "field": None}}),
                content_type="application/json",
            )
        return str(token)

    async def _script(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(SCRIPT, headers={"Content-Type": "text/javascript"})

    async def _list(self, request: web.Request) -> web.Response:
        token = await self._user(request)
        newest_first = [item for item in reversed(self.feeds[token]) if item.archived_at is None]
        cursor = request.query.get("cursor")
        start = next(i + 1 for i, item in enumerate(newest_first) if item.id == cursor) if cursor else 0
        limit = int(request.query.get("limit", "20"))
        page = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        return web.json_response(
            {
                "items": [item.json() for item in page],
                "next_cursor": page[-1].id if more else None,
                "counts": self.counts(token),
            }
        )

    async def _counts(self, request: web.Request) -> web.Response:
        return web.json_response(self.counts(await self._user(request)))

    async def _change(self, request: web.Request) -> web.Response:
        token = await self._user(request)
        action = request.match_info["action"]
        if action not in STATES and action not in UNDO:
            raise web.HTTPNotFound()
        ids = set((await request.json())["ids"])
        for item in self.feeds[token]:
            if item.id in ids:
                setattr(item, STATES.get(action) or UNDO[action], now() if action in STATES else None)
        return self._changed_counts(token)

    async def _read_all(self, request: web.Request) -> web.Response:
        token = await self._user(request)
        for item in self.feeds[token]:
            item.read_at = item.read_at or now()
        return self._changed_counts(token)

    async def _delete(self, request: web.Request) -> web.Response:
        token = await self._user(request)
        self.feeds[token] = [item for item in self.feeds[token] if item.id != request.match_info["id"]]
        self._changed_counts(token)
        return web.Response(status=204)

    def _changed_counts(self, token: str) -> web.Response:
        counts = self.counts(token)
        self._send(token, "counts", counts)
        return web.json_response({"counts": counts})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        token = await self._user(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        response.headers["Access-Control-Allow-Origin"] = self.origin
        await response.prepare(request)
        stream = Stream(token)
        # Registered before the replay is read, both in one step: nothing falls between the two.
        self.streams.append(stream)
        replay = self._after(token, request.headers.get("Last-Event-ID"))
        await self._notify()
        try:
            # A short retry keeps the reconnect test quick; the contract leaves it to the browser's default.
            await response.write(b"retry: 100\n\n")
            for item in replay:
                await response.write(f"id: {item.id}\nevent: item\ndata: {json.dumps(item.json())}\n\n".encode())
            await response.write(f"event: counts\ndata: {json.dumps(self.counts(token))}\n\n".encode())
            while (chunk := await stream.queue.get()) is not None:
                await response.write(chunk.encode())
        finally:
            self.streams.remove(stream)
            await self._notify()
        return response

    def _after(self, token: str, last_id: str | None) -> list[Item]:
        feed = self.feeds[token]
        ids = [item.id for item in feed]
        if last_id is None or last_id not in ids:
            return []
        return feed[ids.index(last_id) + 1 :]
