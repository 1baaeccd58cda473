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

Requests are taken in file order (callbacks: each at most once; `--cycle` starts over, for
tracking links that may be loaded again). Each row of the result: [index, due (s after the
start), sent, done, HTTP status or 0 for a transport error].
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

# [method, path (with its query), headers, body]
Request = tuple[str, str, dict[str, str], bytes]


def load_requests(path: Path) -> list[Request]:
    raw: list[list[Any]] = orjson.loads(path.read_bytes())
    return [(m, p, h, b.encode()) for m, p, h, b in raw]


def dump_requests(path: Path, requests: list[tuple[str, str, dict[str, str], str]]) -> None:
    path.touch(mode=0o600)
    path.write_bytes(orjson.dumps(requests))


class Generator:
    def __init__(self, base_url: str, requests: list[Request], *, cycle: bool, connections: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.requests = requests
        self.cycle = cycle
        self.connections = connections
        self.rows: list[tuple[int, float, float, float, int]] = []
        self.errors: dict[str, int] = {}
        self._next = 0

    def _take(self) -> int | None:
        n = self._next
        if n >= len(self.requests) and not self.cycle:
            return None
        self._next += 1
        return n

    async def _send(self, session: aiohttp.ClientSession, n: int, due: float, t0: float) -> None:
        method, path, headers, body = self.requests[n % len(self.requests)]
        sent = time.perf_counter() - t0
        status = 0
        try:
            async with session.request(
                method, self.base_url + path, headers=headers, data=body or None, allow_redirects=False
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
        self.rows.append((n, due, sent, time.perf_counter() - t0, status))

    async def closed(self, session: aiohttp.ClientSession, concurrency: int, duration: float, t0: float) -> None:
        async def slot() -> None:
            while time.perf_counter() - t0 < duration and (n := self._take()) is not None:
                now = time.perf_counter() - t0
                await self._send(session, n, now, t0)

        await asyncio.gather(*(slot() for _ in range(concurrency)))

    async def opened(self, session: aiohttp.ClientSession, rate: float, duration: float, t0: float) -> None:
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while (due := i / rate) < duration and (n := self._take()) is not None:
            wait = due - (time.perf_counter() - t0)
            if wait > 0.0005:
                await asyncio.sleep(wait)
            task = asyncio.create_task(self._send(session, n, due, t0))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    async def run(self, *, start_at: float, duration: float, rate: float | None, concurrency: int) -> float:
        connector = aiohttp.TCPConnector(limit=self.connections, ttl_dns_cache=None)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, skip_auto_headers=["User-Agent"]) as s:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            t0 = time.perf_counter()
            if rate:
                await self.opened(s, rate, duration, t0)
            else:
                await self.closed(s, concurrency, duration, t0)
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
