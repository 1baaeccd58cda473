"""Load generation: the design's channel mix, open loop at a fixed rate or closed loop flat out.

The mix is 10 push : 1 SMS : 5 email (10M / 1M / 5M a day), one channel per notification and
one device per user, so every accepted notification is exactly one delivery and the number
of messages the simulators must receive is known.

Open loop (`run_rate`): requests are due at fixed times whatever the answers do, and accept
latency counts from the due time, so a slow server cannot hide its queueing by slowing the
driver (no coordinated omission). Closed loop (`run_max`): as fast as the system *delivers*:
the driver keeps at most `backlog` accepted-but-not-yet-received deliveries outstanding,
so a fast intake cannot pile up a backlog that outlives the phase.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import orjson

# Push : SMS : email = 10 : 1 : 5, interleaved (smooth weighted round robin) so any short
# window already carries the design mix.
WEIGHTS = {"push": 10, "sms": 1, "email": 5}
TEMPLATE = "bench-order"
TEMPLATE_CHANNELS: dict[str, Any] = {
    "email": {
        "subject": "Order {{ order_id }} shipped",
        "text": "Hi {{ user.name }}, order {{ order_id }} is on its way.",
        "html": "<p>Hi {{ user.name }}, order <b>{{ order_id }}</b> is on its way.</p>",
    },
    "sms": {"text": "Order {{ order_id }} shipped. Track it in the app."},
    "push": {"title": "Order {{ order_id }} shipped", "body": "Hi {{ user.name }}, it is on its way."},
}
_JSON = {"Content-Type": "application/json"}


def channel_cycle() -> list[str]:
    """One period of the mix, interleaved: 16 channels in the order a smooth round robin picks."""
    current = dict.fromkeys(WEIGHTS, 0)
    total = sum(WEIGHTS.values())
    order = []
    for _ in range(total):
        for name, weight in WEIGHTS.items():
            current[name] += weight
        pick = max(current, key=lambda n: current[n])
        current[pick] -= total
        order.append(pick)
    return order


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    name: str
    email: str
    phone: str
    platform: str  # ios | android: half the users each
    token: str


def population(count: int, ios_share: float = 0.5) -> list[Person]:
    """M users with an email, a distinct E.164 phone and one push device each (iOS or Android)."""
    people = []
    for i in range(count):
        ios = (i % 100) < ios_share * 100
        token = f"{i:064x}" if ios else f"fcm-bench-token-{i:08d}"
        phone = f"+1415{2000000 + i:07d}"
        platform = "ios" if ios else "android"
        people.append(Person(f"u{i}", f"User {i}", f"user{i}@bench.example.com", phone, platform, token))
    return people


@dataclass(frozen=True, slots=True)
class Sent:
    """One HTTP request: when it was due, sent and answered (time.time() seconds)."""

    due: float
    sent: float
    done: float
    status: int
    items: int


@dataclass
class Load:
    """What a phase's driver did: every request, and every delivery it got accepted."""

    offered_rate: float | None
    started: float = 0.0
    ended: float = 0.0
    requests: list[Sent] = field(default_factory=list)
    # delivery key (32 hex) -> (accepted at, per the server's created_at; channel)
    accepted: dict[str, tuple[float, str]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


class Driver:
    """Sends the mix to one API (Herald's or the baseline's: both answer in Herald's shape)."""

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str],
        users: int,
        tag: str,
        *,
        batch_size: int,
        template: str = TEMPLATE,
        channels: list[str] | None = None,
    ) -> None:
        """Notification n goes to user u{n % users}, on the n-th channel of `channels` (the mix if None)."""
        self.base_url = base_url.rstrip("/")
        self._auth = aiohttp.BasicAuth(*auth)
        self._users = users
        self._tag = tag
        self.batch_size = max(1, batch_size)
        self._template = template
        self._cycle = channels or channel_cycle()
        self._n = 0
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Driver:
        timeout = aiohttp.ClientTimeout(total=60)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512), timeout=timeout, auth=self._auth
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _notification(self) -> dict[str, Any]:
        n = self._n
        self._n += 1
        return {
            "event_id": f"{self._tag}-{n}",
            "user_id": f"u{n % self._users}",
            "template": self._template,
            "data": {"order_id": n},
            "channels": [self._cycle[n % len(self._cycle)]],
        }

    async def _send(self, load: Load, due: float) -> None:
        assert self._session is not None
        batch = self.batch_size > 1
        items = [self._notification() for _ in range(self.batch_size)]
        url = f"{self.base_url}/v1/notifications/batch" if batch else f"{self.base_url}/v1/notifications"
        body = orjson.dumps({"notifications": items} if batch else items[0])
        sent = time.time()
        try:
            async with self._session.post(url, data=body, headers=_JSON) as resp:
                raw, status = await resp.read(), resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            load.errors[type(exc).__name__] += 1
            return
        load.requests.append(Sent(due, sent, time.time(), status, len(items)))
        if status >= 300:
            load.errors[f"http_{status}"] += 1
            return
        answer = orjson.loads(raw)
        for item in answer["results"] if batch else [{"status": status, "notification": answer}]:
            if item["status"] == 202:
                self._absorb(load, item["notification"])
            else:
                load.errors[f"item_{item['status']}"] += 1

    @staticmethod
    def _absorb(load: Load, notification: dict[str, Any]) -> None:
        created = _epoch(notification["created_at"])
        for d in notification["deliveries"]:
            load.accepted[d["id"].replace("-", "")] = (created, d["channel"])

    async def run_rate(self, rate: float, duration: float, *, max_inflight: int = 512, tail: float = 20.0) -> Load:
        """Open loop: a request every batch_size/rate seconds for `duration` seconds.

        Requests still unanswered `tail` seconds after the last one was due are abandoned
        (counted as `abandoned` errors): an overloaded server must not stretch the phase.
        """
        load = Load(offered_rate=rate)
        interval = self.batch_size / rate
        slots = asyncio.Semaphore(max_inflight)
        tasks: set[asyncio.Task[None]] = set()

        async def one(due: float) -> None:
            async with slots:
                await self._send(load, due)

        load.started = time.time()
        end = load.started + duration
        for i in range(int(duration / interval) + 1):
            due = load.started + i * interval
            if due >= end:
                break
            if (delay := due - time.time()) > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        load.ended = time.time()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=tail)
            for task in late:
                task.cancel()
            load.errors["abandoned"] += len(late)
            if not load.errors["abandoned"]:
                del load.errors["abandoned"]
        return load

    async def run_max(
        self,
        duration: float,
        delivered: Callable[[], Awaitable[int]],
        *,
        backlog: int,
        concurrency: int,
        limit: int | None = None,
        queue_seconds: float = 1.5,
    ) -> Load:
        """Closed loop: keep about `queue_seconds` of the system's own delivery rate accepted but
        not yet delivered (at least 300, at most `backlog`), and with `limit`, stop after that
        many accepted. Enough to keep every stage busy; little enough to drain in seconds."""
        load = Load(offered_rate=None)
        load.started = time.time()
        end = load.started + duration
        seen, cap = 0, min(backlog, 1000)

        async def poll() -> None:
            nonlocal seen, cap
            last, last_t = 0, time.monotonic()
            while True:
                await asyncio.sleep(0.1)
                seen = await delivered()
                now = time.monotonic()
                if now - last_t >= 1.0:
                    rate = (seen - last) / (now - last_t)
                    cap = max(300, min(backlog, int(rate * queue_seconds)))
                    last, last_t = seen, now

        async def loop() -> None:
            while (now := time.time()) < end and (limit is None or len(load.accepted) < limit):
                if len(load.accepted) - seen >= cap:
                    await asyncio.sleep(0.01)
                    continue
                await self._send(load, now)

        poller = asyncio.create_task(poll())
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        load.ended = time.time()
        poller.cancel()
        return load
