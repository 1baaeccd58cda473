"""Driving Herald in tests: seed through the API, run the workers until the log settles."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Generator, Iterator
from types import TracebackType
from typing import Any

import httpx
from sqlalchemy import event, func, or_, select

from herald.api.app import create_app
from herald.apps.service import create_app as create_client_app
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.notifications.models import Delivery, DeliveryState
from herald.queue.relay import relay_once
from herald.runtime import Runtime
from herald.sandbox.inbox import Inbox
from herald.workers.scheduler import promote_due, release_due

EMAIL_TEMPLATE = {
    "channels": {
        "email": {
            "subject": "Order {{ order_id }} shipped",
            "text": "Hi {{ user.name }}, order {{ order_id }} is on its way.",
            "html": "<p>Hi {{ user.name }}, order <b>{{ order_id }}</b> is on its way.</p>",
        },
        "sms": {"text": "Order {{ order_id }} shipped"},
        "push": {"title": "Shipped", "body": "Order {{ order_id }} is on its way", "data": {"order": "{{ order_id }}"}},
    },
    "locales": {"fr": {"email": {"subject": "Commande {{ order_id }} expédiée", "text": "Bonjour {{ user.name }}"}}},
}


@contextlib.contextmanager
def statements_run(runtime: Runtime) -> Iterator[list[str]]:
    """The statements any of `runtime`'s pools runs meanwhile (the keyed one's too, which
    runs the hot path's batches on PostgreSQL), whitespace collapsed, in order."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    engines = [e.sync_engine for e in (runtime.engine, runtime.keyed_engine) if e is not None]
    for e in engines:
        event.listen(e, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", record)


class LoopTicks:
    """Counts the event loop's turns while in use (`async with LoopTicks() as ticks`): a test's
    proof that work it awaited left the loop free, or gave it turns."""

    def __init__(self, interval: float = 0.0) -> None:
        self.interval = interval
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self._task is not None
        self._task.cancel()


class Herald:
    def __init__(self, runtime: Runtime, client: httpx.AsyncClient, inbox: Inbox) -> None:
        self.runtime = runtime
        self.client = client
        self.inbox = inbox

    async def user(self, user_id: str = "42", **fields: Any) -> dict[str, Any]:
        body = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+14155550123", **fields}
        r = await self.client.put(f"/v1/users/{user_id}", json=body)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    async def template(self, key: str = "order-shipped", body: dict[str, Any] | None = None) -> None:
        r = await self.client.put(f"/v1/templates/{key}", json=body or EMAIL_TEMPLATE)
        assert r.status_code in (200, 201), r.text

    async def notify(self, **body: Any) -> httpx.Response:
        payload = {
            "event_id": uuid.uuid4().hex,
            "user_id": "42",
            "template": "order-shipped",
            "data": {"order_id": 7},
            "channels": ["email"],
            **body,
        }
        return await self.client.post("/v1/notifications", json=payload)

    async def queued(self, n: int) -> list[uuid.UUID]:
        """`n` email deliveries to the default user and template, committed `queued` and due."""
        await self.user()
        await self.template()
        made = []
        for _ in range(n):
            r = await self.notify()
            assert r.status_code == 202, r.text
            made.append(uuid.UUID(r.json()["deliveries"][0]["id"]))
        return made

    async def pending(self) -> int:
        """Deliveries due now that are not settled: queued and due, or sending."""
        now = utcnow()
        async with self.runtime.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(
                        or_(
                            (Delivery.state == DeliveryState.QUEUED) & (Delivery.available_at <= now),
                            Delivery.state == DeliveryState.SENDING,
                        )
                    )
                )
                or 0
            )

    async def drain(self, timeout: float = 15.0, channels: list[Channel] | None = None, **worker: Any) -> None:
        """Run one worker per channel until nothing due is left unsettled."""
        stop = asyncio.Event()
        tasks = [asyncio.create_task(self.runtime.worker(c, **worker).run(stop)) for c in channels or Channel.all()]
        try:
            async with asyncio.timeout(timeout):
                quiet = 0
                while quiet < 3:
                    await self.housekeeping()
                    quiet = quiet + 1 if await self.pending() == 0 else 0
                    await asyncio.sleep(0.02)
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    async def sending(self) -> int:
        async with self.runtime.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.SENDING)
                )
                or 0
            )

    async def unsettled(self) -> int:
        async with self.runtime.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.state.in_([DeliveryState.QUEUED, DeliveryState.SENDING]))
                )
                or 0
            )

    async def finish(self, timeout: float = 60.0) -> None:
        """Drain again and again until every delivery is final, retries included."""
        async with asyncio.timeout(timeout):
            while True:
                await self.drain(timeout=timeout)
                if await self.unsettled() == 0:
                    return
                await asyncio.sleep(0.05)

    async def housekeeping(self) -> None:
        """What the scheduler and relay processes do, once."""
        broker = self.runtime.broker
        await relay_once(self.runtime.engine, broker)
        await release_due(self.runtime.sessions, broker)
        await promote_due(broker)

    async def notification(self, notification_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/notifications/{notification_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())


async def client_for(runtime: Runtime, name: str) -> httpx.AsyncClient:
    """An API client over ASGI, authenticated as a new app of `runtime`."""
    async with transaction(runtime.sessions) as session:
        creds = await create_client_app(session, name, runtime.pepper)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime.api_services())),
        base_url="http://herald.test",
        auth=(creds.key, creds.secret),
        timeout=30,
    )


class Bearer(httpx.Auth):
    """An end user's credentials: the token their app minted."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


async def end_user_token(client: httpx.AsyncClient, user_id: str = "42", ttl_seconds: int = 3600) -> str:
    """A token for `user_id`, minted by the client's app through the API."""
    r = await client.post(f"/v1/users/{user_id}/token", json={"ttl_seconds": ttl_seconds})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])
