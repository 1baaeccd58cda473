"""A small notification log for the console's Activity, Dead letters and Users pages: in the
seeded app "alpha", users with contacts and a template, notifications whose deliveries are set
by hand to the states the pages must tell apart (a dead one among them); and in "beta" one
notification that alpha's members must never reach."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update

from herald.api.app import create_app
from herald.kit.db import transaction
from herald.notifications.models import Delivery
from herald.notifications.schemas import InlineRecipient, NotificationIn
from herald.recipients.repository import suppress
from herald.runtime import Runtime
from tests.console.seed import Seeded

SHIPPED = {
    "channels": {
        "email": {
            "subject": "Order {{ order_id }} shipped",
            "html": "<p>Hi {{ user.name }}, order <b>{{ order_id }}</b> shipped.</p><script>alert(1)</script>",
            "text": "Hi {{ user.name }}, order {{ order_id }} shipped.",
        },
        "sms": {"text": "Order {{ order_id }} shipped"},
    }
}


@dataclass(frozen=True)
class Log:
    ids: dict[str, uuid.UUID]  # notifications by name: shipped, welcome, guest (alpha); beta (the other app)
    dead: uuid.UUID  # the dead delivery (sms of "welcome")
    beta_dead: uuid.UUID


def api(runtime: Runtime, key: str, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime.api_services())),
        base_url="http://herald.test",
        auth=(key, secret),
        timeout=30,
    )


async def _notify(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/notifications", json={"event_id": uuid.uuid4().hex, **body})
    assert r.status_code == 202, r.text
    return dict(r.json())


async def _set(runtime: Runtime, delivery_id: str, **values: Any) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Delivery).where(Delivery.id == uuid.UUID(delivery_id)).values(**values))


async def _prepare(client: httpx.AsyncClient) -> None:
    for user, email in (("ada", "ada@example.com"), ("bob", "bob@example.com")):
        body = {"name": user.capitalize(), "email": email, "phone": "+14155550123"}
        assert (await client.put(f"/v1/users/{user}", json=body)).status_code in (200, 201)
    assert (await client.put("/v1/templates/order-shipped", json=SHIPPED)).status_code in (200, 201)


async def _beta(runtime: Runtime, seeded: Seeded) -> dict[str, Any]:
    """The other app's notification, through the intake (the seed keeps no key of beta's)."""
    body = NotificationIn(
        event_id="beta-secret-event",
        recipient=InlineRecipient(phone="+14155550199"),
        content={"sms": {"text": "For beta only"}},
        category="orders",
    )
    result = await runtime.api_services().intake.accept_single(seeded.other_app_id, body)
    assert result.notification is not None, result.error
    return result.notification.model_dump(mode="json")


async def make_log(runtime: Runtime, seeded: Seeded) -> Log:
    alpha_api = api(runtime, seeded.app_key, seeded.app_secret)
    try:
        await _prepare(alpha_api)
        data = {"order_id": 7}
        shipped = await _notify(
            alpha_api, user_id="ada", template="order-shipped", data=data, channels=["email"], category="orders"
        )
        welcome = await _notify(
            alpha_api, user_id="bob", template="order-shipped", data=data, channels=["email", "sms"], category="news"
        )
        guest = await _notify(
            alpha_api, recipient={"email": "guest@example.com"}, content={"email": {"subject": "Hi", "text": "Inline"}}
        )
    finally:
        await alpha_api.aclose()
    other = await _beta(runtime, seeded)
    now = datetime.now(UTC)
    by = {n["event_id"]: {d["channel"]: d["id"] for d in n["deliveries"]} for n in (shipped, welcome, guest, other)}
    await _set(runtime, by[shipped["event_id"]]["email"], state="delivered", provider="smtp", attempts=1)
    await _set(runtime, by[welcome["event_id"]]["email"], state="failed", provider="sendgrid", reason="550")
    dead_id = by[welcome["event_id"]]["sms"]
    await _set(runtime, dead_id, state="dead", provider="twilio", reason="max_attempts", attempts=5, finished_at=now)
    beta_dead = by[other["event_id"]]["sms"]
    await _set(runtime, beta_dead, state="dead", provider="twilio", reason="max_attempts", attempts=5, finished_at=now)
    async with transaction(runtime.sessions) as session:
        conn = await session.connection()
        row = {"app_id": seeded.app_id, "channel": "email", "address": "bob@example.com", "reason": "sendgrid:bounce"}
        await suppress(conn, [row | {"created_at": now}])
    ids = {"shipped": shipped["id"], "welcome": welcome["id"], "guest": guest["id"], "beta": other["id"]}
    return Log({k: uuid.UUID(v) for k, v in ids.items()}, uuid.UUID(dead_id), uuid.UUID(beta_dead))
