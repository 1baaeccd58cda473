"""The SSE bench's clients: many end users' live streams held open by one process, as their
browsers would, each arrival stamped the moment its bytes are read.

`bench/sse.py` starts it as its own process, so that its CPU is not Herald's nor the load
driver's, and drives it over HTTP on loopback: POST /connect opens every stream (at most
`--concurrency` of them still waiting for their first `counts` event, so the API's database
pool is not asked for thousands of counts at once), GET /status counts them, GET /arrivals
gives every item's first arrival, POST /close ends them. The tokens come in a file, never on
the command line (other users of the machine can read that).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web


@dataclass(frozen=True, slots=True)
class SseEvent:
    kind: str
    data: bytes
    id: str | None = None


class SseParser:
    """Server-Sent Events out of a byte stream cut anywhere: the fields Herald sends (`id`,
    `event`, `data`, `retry`) and `:` comments (its pings), which are counted, not returned."""

    def __init__(self) -> None:
        self._buffer = b""
        self.comments = 0

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._buffer += chunk
        *blocks, self._buffer = self._buffer.split(b"\n\n")
        return [e for block in blocks if (e := self._event(block)) is not None]

    def _event(self, block: bytes) -> SseEvent | None:
        kind, data, eid = "message", [], None
        for raw in block.split(b"\n"):
            line = raw.rstrip(b"\r")
            if line.startswith(b":"):
                self.comments += 1
                continue
            name, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if name == b"event":
                kind = value.decode()
            elif name == b"data":
                data.append(value)
            elif name == b"id":
                eid = value.decode()
        # As a browser does: a block without data (only `retry`, only a comment) is no event.
        return SseEvent(kind, b"\n".join(data), eid) if data else None


@dataclass
class Listener:
    """Every stream of this process, and what they received."""

    base_url: str
    users: list[tuple[str, str]]  # (user id, token)
    concurrency: int
    opened: int = 0  # answered 200
    counted: int = 0  # got their first `counts` event
    open_now: int = 0
    dropped: int = 0  # ended by the server (or the network) while we still listened
    pings: int = 0
    misrouted: int = 0  # an item whose data names another user than the stream's
    failures: Counter[str] = field(default_factory=Counter)
    # item id (32 hex) -> (first arrival, time.time(); the user whose stream had it)
    arrivals: dict[str, tuple[float, str]] = field(default_factory=dict)
    duplicates: int = 0
    connect_started: float = 0.0
    all_counted_at: float | None = None
    closing: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None
    _opener: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Open every stream, in the background (once)."""
        if self._opener is None:
            self._opener = asyncio.create_task(self._open_all())

    async def _open_all(self) -> None:
        # No pool limit (each stream holds its connection for good); no read timeout: a
        # stream is silent for up to a ping interval, and a stalled one shows as missing items.
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=None)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        self.connect_started = time.time()
        slots = asyncio.Semaphore(self.concurrency)
        for user_id, token in self.users:
            await slots.acquire()
            task = asyncio.create_task(self._hold(user_id, token, slots))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _hold(self, user_id: str, token: str, slot: asyncio.Semaphore) -> None:
        assert self._session is not None
        waiting = True
        try:
            async with self._session.get(f"{self.base_url}/v1/me/feed/stream", params={"token": token}) as resp:
                if resp.status != 200:
                    self.failures[f"http_{resp.status}"] += 1
                    return
                self.opened += 1
                self.open_now += 1
                parser = SseParser()
                try:
                    async for chunk in resp.content.iter_any():
                        now = time.time()
                        for event in parser.feed(chunk):
                            if event.kind == "counts" and waiting:
                                waiting = False
                                slot.release()
                                self._counted()
                            elif event.kind == "item":
                                self._item(event, user_id, now)
                        self.pings, parser.comments = self.pings + parser.comments, 0
                finally:
                    self.open_now -= 1
                    if not self.closing:
                        self.dropped += 1
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if not self.closing:
                self.failures[type(exc).__name__] += 1
        finally:
            if waiting:
                slot.release()

    def _counted(self) -> None:
        self.counted += 1
        if self.counted == len(self.users):
            self.all_counted_at = time.time()

    def _item(self, event: SseEvent, user_id: str, now: float) -> None:
        key = (event.id or "").replace("-", "")
        if key in self.arrivals:
            self.duplicates += 1
            return
        self.arrivals[key] = (now, user_id)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            if orjson.loads(event.data)["data"]["for"] != user_id:
                self.misrouted += 1

    def status(self) -> dict[str, object]:
        return {
            "users": len(self.users),
            "opened": self.opened,
            "counted": self.counted,
            "open_now": self.open_now,
            "dropped": self.dropped,
            "failures": dict(self.failures),
            "items": len(self.arrivals),
            "duplicates": self.duplicates,
            "misrouted": self.misrouted,
            "pings": self.pings,
            "connect_started": self.connect_started,
            "all_counted_at": self.all_counted_at,
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        }

    async def close(self) -> None:
        self.closing = True
        tasks = [*self._tasks, *([self._opener] if self._opener else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (a stream is a socket); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def control(listener: Listener, stop: asyncio.Event) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def connect(_: web.Request) -> web.Response:
        listener.start()
        return web.json_response({"ok": True})

    async def status(_: web.Request) -> web.Response:
        return web.json_response(listener.status())

    async def arrivals(_: web.Request) -> web.Response:
        rows = [[k, t, u] for k, (t, u) in listener.arrivals.items()]
        return web.Response(body=orjson.dumps({"arrivals": rows}), content_type="application/json")

    async def close(_: web.Request) -> web.Response:
        await listener.close()
        stop.set()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/connect", connect)
    app.router.add_get("/status", status)
    app.router.add_get("/arrivals", arrivals)
    app.router.add_post("/close", close)
    return app


async def serve(args: argparse.Namespace) -> None:
    users = [(u, t) for u, t in json.loads(Path(args.tokens).read_text())]
    listener = Listener(args.base_url.rstrip("/"), users, args.concurrency)
    stop = asyncio.Event()
    runner = web.AppRunner(control(listener, stop), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.control_port).start()
    try:
        await stop.wait()
    finally:
        await listener.close()
        await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sse_listen", description=__doc__)
    p.add_argument("--base-url", required=True)
    p.add_argument("--tokens", required=True, help="a JSON file: [[user id, token], ...]")
    p.add_argument("--control-port", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=200, help="streams waiting for their first event at once")
    args = p.parse_args()
    raise_nofile()
    import uvloop

    uvloop.run(serve(args))


if __name__ == "__main__":
    main()
