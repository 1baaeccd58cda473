"""What the webhook tests share: a real receiver over loopback, a clock to step, and events."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from herald.events.service import EventLog, Incoming, Summary
from herald.kit.clock import utcnow
from herald.kit.uow import unit_of_work
from herald.webhooks.consumer import WebhookConsumer
from tests.harness import Herald


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server that records each post and answers with the next status of `statuses`
    (200 once they run out); with `hang` set, it holds every request until it is released."""

    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        self.arrived.set()
        if self.hang:
            await self.release.wait()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


class Clock:
    """The dispatcher's time, stepped by the test."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def delivery(h: Herald, **notify: Any) -> tuple[uuid.UUID, str]:
    """A delivery of a new notification (never sent): its id and the notification's event_id."""
    await h.user()
    await h.template()
    event_id = uuid.uuid4().hex
    r = await h.notify(event_id=event_id, **notify)
    assert r.status_code == 202, r.text
    [d] = (await h.notification(r.json()["id"]))["deliveries"]
    return uuid.UUID(d["id"]), event_id


async def record(
    h: Herald, delivery_id: uuid.UUID, kind: str, consumer: WebhookConsumer | None = None, **fields: Any
) -> Summary:
    """Record one event about the delivery, handed to the webhook consumer (the runtime's)."""
    event = Incoming(
        delivery_id=delivery_id,
        kind=kind,
        source=fields.pop("source", "test"),
        occurred_at=fields.pop("occurred_at", utcnow()),
        dedupe=fields.pop("dedupe", uuid.uuid4().hex),
        **fields,
    )
    async with unit_of_work(h.runtime.sessions) as uow:
        consumer = consumer or WebhookConsumer(h.runtime.webhook_subscriptions)
        return await EventLog([consumer]).record(uow, [event])


async def subscribe(h: Herald, url: str, events: list[str] | None = None) -> dict[str, Any]:
    r = await h.client.post("/v1/webhooks", json={"url": url, "events": events or ["delivered", "bounced"]})
    assert r.status_code == 201, r.text
    return dict(r.json())
