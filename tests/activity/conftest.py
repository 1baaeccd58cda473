"""A small log with known answers: notifications of two apps whose deliveries are set, by
hand, to the states, channels and providers each search must tell apart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from herald.notifications.models import Delivery
from tests.harness import EMAIL_TEMPLATE, Herald

WELCOME = {"channels": {"email": {"subject": "Welcome {{ user.name }}", "text": "Hi"}, "sms": {"text": "Welcome"}}}


@dataclass
class Seeded:
    ids: dict[str, uuid.UUID]  # by name: n1..n4 of the app, o1 of the other app
    created: dict[str, datetime]


async def _notify(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    payload = {"event_id": uuid.uuid4().hex, "data": {"order_id": 7}, **body}
    r = await client.post("/v1/notifications", json=payload)
    assert r.status_code == 202, r.text
    return dict(r.json())


async def _set(h: Herald, delivery_id: str, **values: Any) -> None:
    async with h.runtime.sessions() as session, session.begin():
        await session.execute(update(Delivery).where(Delivery.id == uuid.UUID(delivery_id)).values(**values))


@pytest.fixture
async def seeded(herald: Herald, other_client: httpx.AsyncClient) -> Seeded:
    """n1..n4 in this app, oldest first; o1, in the other app, matches every filter n2 does."""
    h = herald
    for client in (h.client, other_client):
        for user in ("42", "43"):
            r = await client.put(
                f"/v1/users/{user}", json={"name": "Ada", "email": "a@example.com", "phone": "+14155550123"}
            )
            assert r.status_code in (200, 201), r.text
        for key, body in (("order-shipped", EMAIL_TEMPLATE), ("welcome", WELCOME)):
            assert (await client.put(f"/v1/templates/{key}", json=body)).status_code in (200, 201)
    made = {
        "n1": await _notify(h.client, user_id="42", template="order-shipped", channels=["email"], category="orders"),
        "n2": await _notify(
            h.client, user_id="43", template="welcome", channels=["email", "sms"], category="marketing"
        ),
        "n3": await _notify(h.client, user_id="42", template="welcome", channels=["sms"]),
        "n4": await _notify(
            h.client,
            recipient={"email": "guest@example.com"},
            content={"email": {"subject": "Hi", "text": "Inline"}},
            channels=["email"],
            category="orders",
        ),
        "o1": await _notify(
            other_client, user_id="43", template="welcome", channels=["email", "sms"], category="marketing"
        ),
    }
    by_channel = {name: {d["channel"]: d["id"] for d in n["deliveries"]} for name, n in made.items()}
    await _set(h, by_channel["n1"]["email"], state="delivered", provider="smtp")
    await _set(h, by_channel["n2"]["email"], state="failed", provider="sendgrid", reason="invalid_address")
    await _set(h, by_channel["n2"]["sms"], state="delivered", provider="twilio")
    await _set(h, by_channel["n4"]["email"], state="delivered", provider="smtp")
    await _set(h, by_channel["o1"]["email"], state="failed", provider="sendgrid")
    await _set(h, by_channel["o1"]["sms"], state="delivered", provider="twilio")
    return Seeded(
        {name: uuid.UUID(n["id"]) for name, n in made.items()},
        {name: datetime.fromisoformat(n["created_at"]) for name, n in made.items()},
    )
