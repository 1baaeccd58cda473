"""The chaos run's load: users with every kind of address, then notifications over the channel mix.

Every request is retried with the same body until the API answers, for a bounded time: a
killed API or a restarting database may delay acceptance, and a repeated event_id is Herald's
promise that retrying is safe. What still is not accepted at the end is reported, not dropped.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

# The design's channel mix: 10 push : 1 SMS : 5 email.
MIX: tuple[tuple[str, int], ...] = (("push", 10), ("sms", 1), ("email", 5))
# Push devices by platform (one device per user, so one delivery per notification).
PLATFORMS: tuple[tuple[str, int], ...] = (("ios", 2), ("android", 2), ("web", 1))
TEMPLATE = "chaos"
_TEMPLATE_BODY: dict[str, Any] = {
    "channels": {
        "email": {"subject": "Chaos {{ n }}", "text": "Hi {{ user.name }}, event {{ n }}."},
        "sms": {"text": "Chaos event {{ n }}"},
        "push": {"title": "Chaos", "body": "Event {{ n }}", "data": {"n": "{{ n }}"}},
    }
}
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
# Addresses whose provider reports a failure later, by callback (the simulators' docstrings):
# Twilio by the number's last five digits, Vonage by `990` + err-code, SendGrid by the local part.
TWILIO_FATES = ("30003", "30005", "30006", "30007", "30008")
VONAGE_FATES = ("99002", "99003", "99004", "99006", "99009", "99099")
EMAIL_FATES = ("bounce", "blocked", "deferred", "unsubscribed", "dropped")
_AREAS = ("415", "212", "646", "312", "617", "206", "303", "512")


@dataclass(frozen=True)
class Fates:
    """Who gets which contacts: `uk` of the users a +44 number (Vonage first, as routed),
    `failing` of them a number or an address their provider will report as not delivered."""

    uk: float = 0.0
    failing: float = 0.0
    seed: int = 0

    def contacts(self, i: int, rng: random.Random) -> tuple[str, str]:
        """(email, phone) of user i: each number distinct, failing ones ending in their fate."""
        uk, failing = rng.random() < self.uk, rng.random() < self.failing
        if not failing:
            phone = f"+4477{i:08d}" if uk else f"+1415{2_000_000 + i}"
            return f"u{i}@chaos.example", phone
        # Valid numbers (Herald checks them) whose last five digits are the fate: a UK
        # mobile 77 + three digits, a US number of one of a few area codes, exchange X Y 3.
        if uk:
            phone = f"+4477{100 + i % 900:03d}{rng.choice(VONAGE_FATES)}"
        else:
            area, xy = _AREAS[i % len(_AREAS)], 20 + (i // len(_AREAS)) % 80
            phone = f"+1{area}{xy}{rng.choice(TWILIO_FATES)}"
        return f"{rng.choice(EMAIL_FATES)}{i}@chaos.example", phone


class GaveUp(Exception):
    """A request kept failing for longer than the retry window."""


@dataclass
class Progress:
    """Shared with the chaos monkey, which restarts engines at fractions of the drive."""

    total: int
    accepted: int = 0
    retries: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class DriveResult:
    accepted: dict[str, int]  # event_id -> first accepting status (202 new, 200 duplicate)
    rejected: dict[str, str]  # event_id -> error code (a 4xx: a bug in the driver or in Herald)
    unaccepted: list[str]  # still failing when the retry window closed
    requests: int
    retries: int
    wall: float


async def request(
    client: httpx.AsyncClient, method: str, url: str, body: Any, *, window: float, progress: Progress | None = None
) -> httpx.Response:
    """Send until the answer is neither a 5xx/429 nor a transport error, or `window` s pass."""
    deadline = time.monotonic() + window
    delay = 0.05
    while True:
        try:
            resp = await client.request(method, url, json=body)
            if resp.status_code not in _RETRYABLE:
                return resp
            problem = f"HTTP {resp.status_code}"
        except httpx.TransportError as exc:
            problem = repr(exc)
        if time.monotonic() + delay > deadline:
            raise GaveUp(f"{method} {url}: {problem}")
        if progress is not None:
            progress.retries += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


def _weighted(rng: random.Random, table: Sequence[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


async def _device(client: httpx.AsyncClient, sandbox_url: str, platform: str, window: float) -> dict[str, Any]:
    if platform == "ios":
        return {"platform": "ios", "token": secrets.token_hex(32)}
    if platform == "android":
        return {"platform": "android", "token": "fcm:" + secrets.token_urlsafe(60)}
    resp = await request(client, "POST", f"{sandbox_url}/_sandbox/webpush/subscriptions", {}, window=window)
    resp.raise_for_status()
    return {"platform": "web", "subscription": resp.json()}


async def _seed_user(
    client: httpx.AsyncClient, sandbox_url: str, i: int, platform: str, window: float, contacts: tuple[str, str]
) -> None:
    # A distinct number per user: SMS can be matched by destination as well as by key.
    user = {"name": f"User {i}", "email": contacts[0], "phone": contacts[1], "locale": "en"}
    resp = await request(client, "PUT", f"/v1/users/u{i}", user, window=window)
    _expect(resp, "PUT user")
    device = await _device(client, sandbox_url, platform, window)
    _expect(await request(client, "POST", f"/v1/users/u{i}/devices", device, window=window), "POST device")


def _expect(resp: httpx.Response, what: str) -> None:
    if resp.status_code >= 400:
        raise RuntimeError(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")


async def seed(
    client: httpx.AsyncClient,
    sandbox_url: str,
    users: int,
    rng: random.Random,
    *,
    concurrency: int,
    window: float,
    mix: Sequence[tuple[str, int]] = PLATFORMS,
    fates: Fates | None = None,
) -> list[str]:
    """The template and `users` users, each with an email, a phone and one push device
    (`fates`: some +44 numbers and failing addresses, drawn apart from `rng`)."""
    _expect(await request(client, "PUT", f"/v1/templates/{TEMPLATE}", _TEMPLATE_BODY, window=window), "template")
    platforms = [_weighted(rng, mix) for _ in range(users)]
    fate_rng = random.Random(fates.seed if fates else 0)
    contacts = [
        fates.contacts(i, fate_rng) if fates else (f"u{i}@chaos.example", f"+1415{2_000_000 + i}") for i in range(users)
    ]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(users):
        queue.put_nowait(i)

    async def lane() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await _seed_user(client, sandbox_url, i, platforms[i], window, contacts[i])

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return [f"u{i}" for i in range(users)]


def plan(n: int, users: Sequence[str], rng: random.Random, run_id: str) -> list[dict[str, Any]]:
    """N notifications, each to one user on one channel of the mix."""
    return [
        {
            "event_id": f"chaos-{run_id}-{i}",
            "user_id": rng.choice(users),
            "template": TEMPLATE,
            "channels": [_weighted(rng, MIX)],
            "data": {"n": i},
        }
        for i in range(n)
    ]


class Driver:
    """Posts the plan in chunks, a tenth of them as single POSTs, with bounded concurrency."""

    def __init__(self, client: httpx.AsyncClient, progress: Progress, *, window: float) -> None:
        self.client = client
        self.progress = progress
        self.window = window
        self.result = DriveResult({}, {}, [], 0, 0, 0.0)

    def _settle(self, item: dict[str, Any], status: int, code: str | None) -> bool:
        """Record a final answer for one item; False if the item must be sent again."""
        eid = item["event_id"]
        if status in (200, 202):
            self.result.accepted.setdefault(eid, status)
            self.progress.accepted += 1
            return True
        if status in _RETRYABLE:
            return False
        self.result.rejected[eid] = code or f"HTTP {status}"
        return True

    async def _batch(self, items: list[dict[str, Any]]) -> None:
        pending = items
        deadline = time.monotonic() + self.window
        while pending:
            self.result.requests += 1
            try:
                resp = await request(
                    self.client,
                    "POST",
                    "/v1/notifications/batch",
                    {"notifications": pending},
                    window=max(0.0, deadline - time.monotonic()),
                    progress=self.progress,
                )
            except GaveUp:
                self.result.unaccepted += [it["event_id"] for it in pending]
                return
            if resp.status_code != 200:
                for it in pending:
                    self._settle(it, resp.status_code, resp.text[:100])
                return
            results = resp.json()["results"]
            pending = [
                pending[r["index"]]
                for r in results
                if not self._settle(pending[r["index"]], r["status"], (r.get("error") or {}).get("code"))
            ]

    async def _singles(self, items: list[dict[str, Any]]) -> None:
        for it in items:
            self.result.requests += 1
            try:
                resp = await request(
                    self.client, "POST", "/v1/notifications", it, window=self.window, progress=self.progress
                )
            except GaveUp:
                self.result.unaccepted.append(it["event_id"])
                continue
            code = None if resp.status_code < 400 else resp.json().get("error", {}).get("code")
            self._settle(it, resp.status_code, code)

    async def drive(self, notifications: list[dict[str, Any]], *, batch: int, concurrency: int) -> DriveResult:
        t0 = time.monotonic()
        chunks = [notifications[i : i + batch] for i in range(0, len(notifications), batch)]
        queue: asyncio.Queue[tuple[int, list[dict[str, Any]]]] = asyncio.Queue()
        for pair in enumerate(chunks):
            queue.put_nowait(pair)

        async def lane() -> None:
            while not queue.empty():
                k, chunk = queue.get_nowait()
                await (self._singles(chunk) if k % 10 == 5 else self._batch(chunk))

        try:
            await asyncio.gather(*(lane() for _ in range(concurrency)))
        finally:
            self.progress.done.set()
        self.result.retries = self.progress.retries
        self.result.wall = time.monotonic() - t0
        return self.result
