"""Provider callbacks in: verified with the provider's own scheme (signed here by independent
code: the official twilio package, an ECDSA key of the test's own), recorded once, in any
order, with their effects; anything unsigned is a 403 that records nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from vonage_http_client import Auth  # type: ignore[import-untyped]

from herald.callbacks.door import _route
from herald.config import Settings
from herald.events.models import DeliveryEvent
from herald.notifications.models import Delivery
from herald.providers.smtp import SmtpAdapter
from herald.recipients.models import Suppression
from herald.runtime import Runtime, build_runtime
from herald.sandbox.smtp import SmtpSimulator
from herald.webhooks.models import WebhookMessage
from tests.harness import EMAIL_TEMPLATE, Herald, client_for

TOKEN = "twilio-auth-token-0123456789abcdef"
SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = base64.b64encode(
    SG_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
BASE = "http://herald.test"
VONAGE_SECRET = "vonage-signature-secret-0123456789"
MC_KEY = "mandrill-webhook-key-01"


@pytest.fixture
async def rt(settings: Settings, smtp_sim: SmtpSimulator) -> AsyncIterator[Runtime]:
    providers = {
        "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": TOKEN, "from_number": "+15005550006"},
        "sendgrid": {"api_key": "SG.x", "from_email": "a@example.com", "event_webhook_public_key": SG_PUBLIC},
        "mailchimp": {"api_key": "md-key", "from_email": "a@example.com", "webhook_key": MC_KEY},
        "vonage": {"api_key": "k", "api_secret": "s", "from_": "Shop", "signature_secret": VONAGE_SECRET,
                   "signature_method": "sha256"},
    }  # fmt: skip
    configured = settings.model_copy(update={"providers": providers})
    runtime = build_runtime(configured, adapters=[SmtpAdapter(smtp_sim.adapter_config())], single_process=True)
    yield runtime
    await runtime.close()


@pytest.fixture
async def h(rt: Runtime, smtp_sim: SmtpSimulator) -> AsyncIterator[Herald]:
    client = await client_for(rt, "callbacks-app")
    yield Herald(rt, client, smtp_sim.inbox)
    await client.aclose()


async def delivery_for(h: Herald, channel: str) -> uuid.UUID:
    await h.user()
    await h.template("order-shipped", EMAIL_TEMPLATE)
    r = await h.notify(channels=[channel])
    assert r.status_code == 202, r.text
    return uuid.UUID(r.json()["deliveries"][0]["id"])


def twilio_post(h: Herald, d: uuid.UUID, status: str, code: str | None = None, *, token: str = TOKEN) -> Any:
    url = f"{BASE}/v1/callbacks/twilio?herald_key={d.hex}"
    form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": status, "To": "+14155550123", "AccountSid": "AC0"}
    if code:
        form["ErrorCode"] = code
    signature = RequestValidator(token).compute_signature(url, form)
    return h.client.post(
        url,
        content=urlencode(form),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )


def sendgrid_post(h: Herald, events: list[dict[str, Any]], *, tamper: bool = False) -> Any:
    body = orjson.dumps(events)
    stamp = str(int(time.time()))
    signature = base64.b64encode(SG_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return h.client.post(
        f"{BASE}/v1/callbacks/sendgrid",
        content=body + (b" " if tamper else b""),
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            "Content-Type": "application/json",
        },
    )


async def state(h: Herald, d: uuid.UUID) -> tuple[str | None, str | None, list[str]]:
    async with h.runtime.sessions() as session:
        row = await session.get(Delivery, d)
        assert row is not None
        kinds = (await session.scalars(select(DeliveryEvent.kind).where(DeliveryEvent.delivery_id == d))).all()
        return row.outcome, row.outcome_code, sorted(kinds)


async def notification_of(h: Herald, d: uuid.UUID) -> uuid.UUID:
    async with h.runtime.sessions() as session:
        row = await session.get(Delivery, d)
        assert row is not None
        return row.notification_id


async def suppressed(h: Herald) -> list[tuple[str, str]]:
    async with h.runtime.sessions() as session:
        return [(s.channel, s.address) for s in (await session.scalars(select(Suppression))).all()]


async def test_twilio_callbacks_are_verified_recorded_once_and_never_regress(h: Herald) -> None:
    d = await delivery_for(h, "sms")
    assert (await twilio_post(h, d, "sent")).json() == {"received": 0}  # on its way: nothing final
    for _ in range(2):  # Twilio retries: the second is the same event
        r = await twilio_post(h, d, "delivered")
        assert r.status_code == 200 and r.json() == {"received": 1}, r.text
    assert await state(h, d) == ("delivered", None, ["delivered"])
    # An undelivered that arrives late, after delivered, is on the timeline, the outcome stands.
    await twilio_post(h, d, "undelivered", "30003")
    assert await state(h, d) == ("delivered", None, ["delivered", "undelivered"])
    assert await suppressed(h) == []  # 30003: unreachable for now, not for good


async def test_twilio_unreachable_carrier_suppresses_the_number(h: Herald) -> None:
    d = await delivery_for(h, "sms")
    assert (await twilio_post(h, d, "undelivered", "30006")).status_code == 200
    assert await state(h, d) == ("undelivered", "30006", ["undelivered"])
    assert await suppressed(h) == [("sms", "+14155550123")]


async def test_an_unsigned_or_wrongly_signed_callback_is_403_and_records_nothing(h: Herald) -> None:
    d = await delivery_for(h, "sms")
    forged = await twilio_post(h, d, "delivered", token="not-the-token")
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "invalid_signature"
    bare = await h.client.post(f"{BASE}/v1/callbacks/twilio?herald_key={d.hex}", content=b"MessageStatus=delivered")
    assert bare.status_code == 403
    event = {"event": "delivered", "sg_event_id": "e1", "herald_key": d.hex, "timestamp": int(time.time())}
    tampered = await sendgrid_post(h, [event], tamper=True)
    assert tampered.status_code == 403 and tampered.json()["error"]["code"] == "invalid_signature"
    assert await state(h, d) == (None, None, [])


async def test_sendgrid_events_bounces_and_engagement(h: Herald) -> None:
    d = await delivery_for(h, "email")
    now = int(time.time())

    def ev(name: str, event_id: str, at: int = now, **extra: Any) -> dict[str, Any]:
        return {"event": name, "email": "ada@example.com", "timestamp": at, "sg_event_id": event_id,
                "sg_message_id": "msg.filter0001", "herald_key": d.hex, **extra}  # fmt: skip

    batch = [
        ev("processed", "p1"),
        ev("open", "o1", now + 5),
        ev("delivered", "d1", now + 1),
        ev("open", "o1", now + 5),  # the same event twice in a batch
        ev("click", "c1", now + 9, url="https://example.com/a"),
        ev("bounce", "b1", now - 50, type="blocked", reason="421 try later"),
        {"event": "delivered", "sg_event_id": "x", "herald_key": uuid.uuid4().hex, "timestamp": now},
        {"event": "delivered", "sg_event_id": "y", "timestamp": now},
    ]
    r = await sendgrid_post(h, batch)
    assert r.status_code == 200 and r.json() == {"received": 6}, r.text
    assert await state(h, d) == ("delivered", None, ["bounced", "clicked", "delivered", "opened"])
    assert await suppressed(h) == []  # "blocked" is a soft bounce
    # A spam report later: the outcome moves up, and the address is suppressed.
    assert (await sendgrid_post(h, [ev("spamreport", "s1", now + 60)])).status_code == 200
    assert (await state(h, d))[0] == "complained"
    assert await suppressed(h) == [("email", "ada@example.com")]
    # The notification's own view: its outcome, timeline and engagement.
    notification = (await h.client.get(f"/v1/notifications/{await notification_of(h, d)}")).json()
    shown = notification["deliveries"][0]
    assert (shown["outcome"], shown["outcome_code"]) == ("complained", None)
    assert [e["kind"] for e in shown["events"]] == ["bounced", "delivered", "opened", "clicked", "complained"]
    assert shown["events"][0]["code"] == "soft" and shown["events"][3]["detail"] == "https://example.com/a"
    assert [(e["kind"], e["count"]) for e in shown["engagement"]] == [("clicked", 1), ("opened", 1)]
    async with h.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DeliveryEvent)) == 5


async def test_an_apps_own_account_speaks_only_for_its_deliveries(h: Herald, rt: Runtime) -> None:
    d = await delivery_for(h, "sms")
    other = await client_for(rt, "other-app")
    try:
        config = {"account_sid": "AC" + "2" * 32, "auth_token": "other-token-0123456789", "from_number": "+15005550006",
                  "base_url": "http://127.0.0.1:9"}  # fmt: skip
        made = await other.put("/v1/integrations/own-sms", json={"kind": "twilio", "config": config})
        assert made.status_code == 201, made.text
        account = made.json()["id"]
        assert made.json()["callback_url"] == f"/v1/callbacks/twilio/{account}"
        url = f"{BASE}/v1/callbacks/twilio/{account}?herald_key={d.hex}"
        form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
        signature = RequestValidator("other-token-0123456789").compute_signature(url, form)
        r = await other.post(url, content=urlencode(form), headers={"X-Twilio-Signature": signature,
                             "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert await state(h, d) == (None, None, [])  # the other app's account: not its delivery
        missing = await other.post(f"{BASE}/v1/callbacks/twilio/{uuid.uuid4()}", content=b"")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "callback_account_not_found"
    finally:
        await other.aclose()


async def test_a_callback_without_credentials_of_its_kind_is_404(h: Herald) -> None:
    r = await h.client.post(f"{BASE}/v1/callbacks/fcm", content=b"x=1")
    assert r.status_code == 404
    assert (await h.client.head(f"{BASE}/v1/callbacks/mailchimp")).status_code == 200


def vonage_receipt(d: uuid.UUID, status: str, err: str, message_id: str = "0B00000053FC4B5F") -> dict[str, str]:
    """A receipt signed by Vonage's own client library (HMAC-SHA256)."""
    params = {"msisdn": "14155550123", "to": "Shop", "network-code": "310260", "messageId": message_id,
              "price": "0.0333", "status": status, "scts": "2012101200", "err-code": err, "client-ref": d.hex,
              "message-timestamp": "2026-12-05 12:00:00", "timestamp": str(int(time.time())),
              "nonce": "n1"}  # fmt: skip
    signer = Auth(api_key="k", signature_secret=VONAGE_SECRET, signature_method="sha256")
    params["sig"] = signer.sign_params(dict(params))
    return params


async def test_vonage_receipts_as_get_form_or_json_signed_by_vonages_library(h: Herald) -> None:
    d = await delivery_for(h, "sms")
    accepted = vonage_receipt(d, "accepted", "0")
    assert (await h.client.get(f"{BASE}/v1/callbacks/vonage", params=accepted)).json() == {"received": 0}
    failed = vonage_receipt(d, "failed", "3")  # absent subscriber, permanent
    r = await h.client.post(f"{BASE}/v1/callbacks/vonage", data=failed)
    assert r.status_code == 200 and r.json() == {"received": 1}, r.text
    assert await state(h, d) == ("undelivered", "3", ["undelivered"])
    assert await suppressed(h) == [("sms", "+14155550123")]
    delivered = vonage_receipt(d, "delivered", "0", message_id="0B00000053FC4B60")  # another part
    assert (await h.client.post(f"{BASE}/v1/callbacks/vonage", json=delivered)).json() == {"received": 1}
    assert (await state(h, d))[2] == ["delivered", "undelivered"]
    forged = {**delivered, "status": "expired"}
    assert (await h.client.post(f"{BASE}/v1/callbacks/vonage", data=forged)).status_code == 403


async def test_mailchimp_webhooks_signed_with_the_webhook_key(h: Herald) -> None:
    d = await delivery_for(h, "email")
    now = int(time.time())

    def ev(name: str, event_id: str, **extra: Any) -> dict[str, Any]:
        msg = {"_id": "m1", "email": "ada@example.com", "state": "sent", "metadata": {"herald_key": d.hex}}
        return {"event": name, "ts": now, "_id": event_id, "msg": msg, **extra}

    url = f"{BASE}/v1/callbacks/mailchimp"
    form = {"mandrill_events": orjson.dumps([ev("send", "e1"), ev("open", "e2"), ev("hard_bounce", "e3")]).decode()}
    # Mailchimp's documented scheme, written out here: base64 HMAC-SHA1 of the URL and each
    # sorted key and value, keyed with the webhook's key.
    signed = url + "".join(k + form[k] for k in sorted(form))
    signature = base64.b64encode(hmac.new(MC_KEY.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    headers = {"X-Mandrill-Signature": signature}
    r = await h.client.post(url, data=form, headers=headers)
    assert r.status_code == 200 and r.json() == {"received": 3}, r.text
    assert await state(h, d) == ("delivered", None, ["bounced", "delivered", "opened"])
    assert await suppressed(h) == [("email", "ada@example.com")]
    forged = await h.client.post(url, data={"mandrill_events": "[]"}, headers=headers)
    assert forged.status_code == 403


async def test_a_verdict_and_the_milestones_become_the_apps_webhook_messages(h: Herald) -> None:
    made = await h.client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["accepted", "delivered", "bounced"]}
    )
    assert made.status_code == 201, made.text
    d = await delivery_for(h, "sms")
    await twilio_post(h, d, "delivered")
    await twilio_post(h, d, "delivered")  # retried by Twilio: no second message
    async with h.runtime.sessions() as session:
        rows = (await session.execute(select(WebhookMessage.event_type, WebhookMessage.body))).all()
    assert sorted(t for t, _ in rows) == ["accepted", "delivered"]
    delivered = next(orjson.loads(body) for t, body in rows if t == "delivered")
    assert delivered["data"]["delivery_id"] == str(d) and delivered["data"]["provider"] is None


def test_the_door_takes_only_callback_paths() -> None:
    account = uuid.uuid4()
    assert _route("/v1/callbacks/twilio") == ("twilio", None)
    assert _route(f"/v1/callbacks/twilio/{account}") == ("twilio", account)
    for other in ("/v1/callbacks/", "/v1/callbacks/twilio/", "/v1/callbacks/twilio/not-a-uuid",
                  f"/v1/callbacks/twilio/{account}/x", "/v1/notifications", "/v1/callbacksx/twilio"):  # fmt: skip
        assert _route(other) is None, other


async def test_what_the_door_leaves_to_the_routes_is_answered_as_before(h: Herald) -> None:
    # Not a UUID: FastAPI's own validation answers; a HEAD: the route's check for Mailchimp.
    r = await h.client.post(f"{BASE}/v1/callbacks/twilio/not-a-uuid", content=b"")
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert (await h.client.head(f"{BASE}/v1/callbacks/twilio")).status_code == 200


async def test_the_door_keeps_the_request_limits(h: Herald) -> None:
    # The front door answers callbacks ahead of FastAPI's layers, not ahead of the limits.
    limit = h.runtime.settings.api.max_body_bytes
    r = await h.client.post(f"{BASE}/v1/callbacks/twilio", content=b"x" * (limit + 1))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    headers = {f"x-pad-{i}": "y" for i in range(h.runtime.settings.api.max_header_count + 1)}
    r = await h.client.post(f"{BASE}/v1/callbacks/twilio", content=b"", headers=headers)
    assert r.status_code == 431
    # Unsigned, inside the limits: the provider's signature check answers, nothing recorded.
    r = await h.client.post(f"{BASE}/v1/callbacks/twilio", content=b"MessageStatus=delivered")
    assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_signature"


async def test_the_door_refuses_nul_and_answers_storage_trouble_as_the_app_does(h: Herald) -> None:
    r = await h.client.post(f"{BASE}/v1/callbacks/twilio?x=%00", content=b"")
    assert r.status_code == 422 and r.json()["error"]["field"] == "x"

    async def down(*_: object, **__: object) -> int:
        raise OSError("the database went away")

    transport = h.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    transport.app.state.callbacks.receive = down  # type: ignore[attr-defined]
    r = await h.client.post(f"{BASE}/v1/callbacks/twilio", content=b"")
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
    assert r.headers["Retry-After"] == "5"
