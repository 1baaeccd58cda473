"""A load generator process for the HTTP benches (bench/callbacks.py, bench/tracking_http.py).

It runs apart from the bench's own process and from Herald's, so that its CPU is neither's
(and is reported): it reads its share of prepared requests from a file (never on the command
line: they carry signatures), waits for a common start time, sends them for `--duration`
seconds, and writes every request's timing to a result file:

- closed loop (`--concurrency C`): C requests in flight at all times, each sent when the
  previous one of its slot answered: the most the server takes (callback ingestion);
- open loop (`--rate R`): request n is due at start + n / R whatever the answers before it,
  and its latency is counted from that due time, so a server (or a generator) that falls
  behind shows as latency, not as a quietly lower rate (the open pixel and click redirect).

The client is HTTP/1.1 over keep-alive connections written by hand (asyncio streams, each
request's bytes prepared once): on a two-core machine the generators share the cores with the
server they load, and aiohttp's client took about as much CPU per request as the server's
handling of a Twilio receipt, so it held the server's throughput down by its own cost. It
reads what Herald answers (a status line, headers, a Content-Length or chunked body) and no
more; anything unexpected closes the connection and counts as an error.

Requests are taken in file order (callbacks: each at most once; `--cycle` starts over, for
tracking links that may be loaded again). Each row of the result: [index, due (s after the
start), sent, done, HTTP status or 0 for a transport error].
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

# How long an idle keep-alive connection is reused (the server's own limit less a margin).
_IDLE_REUSE_S = 4.0
# [method, path (with its query), headers, body]
Request = tuple[str, str, dict[str, str], bytes]


def load_requests(path: Path) -> list[Request]:
    raw: list[list[Any]] = orjson.loads(path.read_bytes())
    return [(m, p, h, b.encode()) for m, p, h, b in raw]


def dump_requests(path: Path, requests: list[tuple[str, str, dict[str, str], str]]) -> None:
    path.touch(mode=0o600)
    path.write_bytes(orjson.dumps(requests))


class Connection:
    """One keep-alive HTTP/1.1 connection: a request's bytes out, its status and body in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.released = time.monotonic()

    def stale(self) -> bool:
        """Closed by the server, or idle so long it may be closing it (uvicorn closes an idle
        keep-alive connection after 5 s): a request sent on it could meet the close. A
        browser retries such a request on a new connection; this client does not reuse one."""
        return self.reader.at_eof() or time.monotonic() - self.released > _IDLE_REUSE_S

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def exchange(self, raw: bytes) -> tuple[int, bool]:
        """Send one request; (status, whether the connection stays open)."""
        self.writer.write(raw)
        line = await self.reader.readuntil(b"\r\n")
        status = int(line.split(b" ", 2)[1])
        length, chunked, keep = 0, False, True
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = b"close" not in value.lower()
        if chunked:
            while (size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        elif length:
            await self.reader.readexactly(length)
        return status, keep

    def close(self) -> None:
        self.writer.close()


def raw_request(host: str, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A request's bytes, as a client would send them on a keep-alive connection."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Generator:
    def __init__(self, base_url: str, requests: list[Request], *, cycle: bool, connections: int) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        authority = url.netloc
        self.requests = [raw_request(authority, m, p, h, b) for m, p, h, b in requests]
        self.cycle = cycle
        self.connections = connections
        self.rows: list[tuple[int, float, float, float, int]] = []
        self.errors: dict[str, int] = {}
        self._next = 0
        self._idle: list[Connection] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()

    def _take(self) -> int | None:
        n = self._next
        if n >= len(self.requests) and not self.cycle:
            return None
        self._next += 1
        return n

    async def _connection(self) -> Connection:
        """An idle connection, a new one within `connections`, or else the next one released
        (handed to the longest waiting request: a wake-up of every waiter per release cost
        more CPU than the requests, once hundreds waited)."""
        while True:
            if self._idle:
                idle = self._idle.pop()
                if not idle.stale():
                    return idle
                idle.close()
                self._open -= 1
                continue
            if self._open < self.connections:
                self._open += 1
                try:
                    return await Connection.open(self.host, self.port)
                except BaseException:
                    self._open -= 1
                    self._hand(None)
                    raise
            waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            conn = await waiter
            if conn is not None:
                return conn  # else a connection closed: room to open one

    def _release(self, conn: Connection, keep: bool) -> None:
        conn.released = time.monotonic()
        if not keep:
            conn.close()
            self._open -= 1
            self._hand(None)
        elif not self._hand(conn):
            self._idle.append(conn)

    def _hand(self, conn: Connection | None) -> bool:
        """Give `conn` (or, with None, the room a closed one left) to the first live waiter."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    async def _send(self, n: int, due: float, t0: float) -> None:
        raw = self.requests[n % len(self.requests)]
        sent = time.perf_counter() - t0
        status, conn, keep = 0, None, False
        try:
            conn = await self._connection()
            async with asyncio.timeout(30):
                status, keep = await conn.exchange(raw)
        except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
        finally:
            if conn is not None:
                self._release(conn, keep)
        self.rows.append((n, due, sent, time.perf_counter() - t0, status))

    async def closed(self, concurrency: int, duration: float, t0: float) -> None:
        async def slot() -> None:
            while time.perf_counter() - t0 < duration and (n := self._take()) is not None:
                now = time.perf_counter() - t0
                await self._send(n, now, t0)

        await asyncio.gather(*(slot() for _ in range(concurrency)))

    async def opened(self, rate: float, duration: float, t0: float) -> None:
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while (due := i / rate) < duration and (n := self._take()) is not None:
            wait = due - (time.perf_counter() - t0)
            if wait > 0.0005:
                await asyncio.sleep(wait)
            task = asyncio.create_task(self._send(n, due, t0))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    async def run(self, *, start_at: float, duration: float, rate: float | None, concurrency: int) -> float:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        t0 = time.perf_counter()
        try:
            if rate:
                await self.opened(rate, duration, t0)
            else:
                await self.closed(concurrency, duration, t0)
        finally:
            for conn in self._idle:
                conn.close()
        return t0


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__)
    p.add_argument("--base-url", required=True)
    p.add_argument("--requests", type=Path, required=True, help="a JSON file: [[method, path, headers, body]...]")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--start-at", type=float, default=0.0, help="wall-clock time (epoch s) to start at")
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--rate", type=float, default=None, help="open loop at this many requests/s")
    p.add_argument("--concurrency", type=int, default=64, help="closed loop: requests in flight")
    p.add_argument("--connections", type=int, default=256, help="the client's connection pool")
    p.add_argument("--cycle", action="store_true", help="start the requests over when they run out")
    a = p.parse_args()
    import uvloop

    gen = Generator(a.base_url, load_requests(a.requests), cycle=a.cycle, connections=a.connections)
    a.requests.unlink(missing_ok=True)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    uvloop.run(gen.run(start_at=a.start_at, duration=a.duration, rate=a.rate, concurrency=a.concurrency))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    a.out.write_bytes(orjson.dumps({"rows": gen.rows, "errors": gen.errors, "cpu_s": cpu, "taken": gen._next}))


if __name__ == "__main__":
    main()
