"""The lookup before a resend: after an unknown outcome, a provider that can say whether it has
the message (Mailchimp's search, Twilio's message list) settles the delivery without a second
copy; one that cannot is resent as before, and the attempt says it may be a duplicate."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import update

from herald.api.app import create_app
from herald.apps.service import create_app as create_client_app
from herald.channels.registry import spec
from herald.config import RetrySettings, RouteSettings, SandboxSettings, Settings
from herald.delivery.failover import ProviderSender
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.notifications.models import Delivery
from herald.providers.base import Lookup, lookup_of
from herald.providers.messages import EmailMessage, OutboundMessage
from herald.providers.outcome import Delivered, Outcome, UnknownOutcome
from herald.providers.router import Router
from herald.runtime import build_runtime
from herald.sandbox.faults import FaultSettings
from herald.sandbox.stack import SandboxStack, start_sandbox
from herald.workers.reconciler import reconcile_once
from tests.harness import Herald


@pytest.fixture
async def stack() -> AsyncIterator[SandboxStack]:
    s = await start_sandbox(SandboxSettings(smtp_port=0, http_port=0), from_address="Herald <noreply@herald.test>")
    yield s
    await s.stop()


@pytest.fixture
async def full(settings: Settings, stack: SandboxStack) -> AsyncIterator[Herald]:
    # A retry far off, made due by hand once the fault is gone (as test_reliability does).
    settings.retry = RetrySettings(base=timedelta(minutes=10))
    settings.routes = RouteSettings(email=["mailchimp"], sms=["twilio"], sms_rules=[])
    runtime = build_runtime(settings, adapters=stack.adapters)
    async with transaction(runtime.sessions) as session:
        creds = await create_client_app(session, "lookup", runtime.pepper)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime.api_services())),
        base_url="http://herald.test",
        auth=(creds.key, creds.secret),
    )
    yield Herald(runtime, client, stack.inbox)
    await client.aclose()
    await runtime.close()


def lookups(provider: str, result: str) -> float:
    return REGISTRY.get_sample_value("herald_provider_lookups_total", {"provider": provider, "result": result}) or 0.0


async def unknown_then_retry(h: Herald, stack: SandboxStack, provider: str, channel: str) -> dict[str, Any]:
    """One delivery whose first send is accepted and then answered by a dropped connection,
    then its retry once the fault is gone; the delivery as the API shows it."""
    await h.user()
    await h.template()
    stack.sandbox.simulator(provider).faults.configure(FaultSettings(drop_rate=1.0))
    r = await h.notify(channels=[channel])
    assert r.status_code == 202, r.text
    await h.drain()
    stack.sandbox.simulator(provider).faults.reset()
    async with h.runtime.sessions() as session, session.begin():
        await session.execute(update(Delivery).values(available_at=utcnow()))
    await reconcile_once(h.runtime.sessions, h.runtime.broker, grace=timedelta(0))
    await h.finish()
    [d] = (await h.notification(r.json()["id"]))["deliveries"]
    return dict(d)


@pytest.mark.parametrize(("provider", "channel"), [("mailchimp", "email"), ("twilio", "sms")])
async def test_the_lookup_settles_an_unknown_outcome_without_a_resend(
    full: Herald, stack: SandboxStack, provider: str, channel: str
) -> None:
    before = lookups(provider, "found")
    d = await unknown_then_retry(full, stack, provider, channel)
    assert d["state"] == "delivered"
    log = d["attempt_log"]
    assert [(a["outcome"], a["code"]) for a in log] == [("unknown", "connection_lost"), ("delivered", "lookup")]
    assert "not resent" in log[1]["detail"]
    [entry] = stack.inbox.entries(provider=provider)
    assert d["provider_message_id"] == entry.message_id
    assert lookups(provider, "found") == before + 1


async def test_a_provider_without_a_lookup_resends_as_before(full: Herald, stack: SandboxStack) -> None:
    full.runtime.settings.routes.email = ["sendgrid"]
    d = await unknown_then_retry(full, stack, "sendgrid", "email")
    assert d["state"] == "delivered"
    assert [a["outcome"] for a in d["attempt_log"]] == ["unknown", "delivered"]
    assert "may be a duplicate" in d["attempt_log"][1]["detail"]
    assert len(stack.inbox.entries(provider="sendgrid")) == 2  # SendGrid cannot be asked: sent twice


# ---------------------------------------------------------------- the sender's choices, one by one


@dataclass
class Fake:
    """An email adapter whose lookup answers what the test says, recording every call."""

    answer: Outcome | Exception | None
    name: str = "fake"
    channel: Channel = Channel.EMAIL
    collapses_duplicates: bool = False
    sends: list[OutboundMessage] = field(default_factory=list)
    since: list[datetime | None] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> Outcome:
        self.sends.append(message)
        return Delivered("resent-id", "sent")

    async def lookup(self, message: OutboundMessage, since: datetime | None = None) -> Outcome | None:
        self.since.append(since)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@dataclass
class NoLookup:
    name: str = "plain"
    channel: Channel = Channel.EMAIL
    collapses_duplicates: bool = False
    sends: int = 0

    async def send(self, message: OutboundMessage) -> Outcome:
        self.sends += 1
        return Delivered("x", "sent")

    async def close(self) -> None:
        return None


MESSAGE = EmailMessage(key="a" * 32, to="ada@example.com", subject="s", html=None, text="t")


async def send_with(adapter: Any, unknowns: int) -> tuple[Any, Any]:
    router = Router([adapter], RouteSettings(email=[adapter.name]))
    sender = ProviderSender(router, spec("email"))
    since = datetime(2030, 1, 1)  # naive, as SQLite hands it back: the sender makes it UTC
    return await sender.send(uuid.uuid4(), MESSAGE, unknowns, since), router


@pytest.mark.parametrize(
    ("answer", "result", "resent", "note"),
    [
        (Delivered("first-id", "lookup", "sent"), "found", False, None),
        (None, "absent", True, "the provider had no record of it"),
        (UnknownOutcome("lookup_500"), "failed", True, "the lookup failed (lookup_500); may be a duplicate"),
        (RuntimeError("adapter bug"), "failed", True, "the lookup failed (adapter_error)"),
    ],
)
async def test_each_lookup_answer(answer: Any, result: str, resent: bool, note: str | None) -> None:
    fake = Fake(answer)
    before = lookups("fake", result)
    sent, _ = await send_with(fake, unknowns=1)
    assert lookups("fake", result) == before + 1
    assert bool(fake.sends) is resent
    assert fake.since[0] is not None and fake.since[0].tzinfo is not None
    [call] = sent.calls
    if resent:
        assert sent.outcome.provider_message_id == "resent-id" and call.code == "sent"
        assert note is not None and note in (call.detail or "")
    else:
        assert (sent.outcome.provider_message_id, sent.outcome.code) == ("first-id", "lookup")
        assert (call.outcome, call.code) == ("delivered", "lookup")


async def test_no_lookup_without_an_earlier_unknown_outcome() -> None:
    fake = Fake(Delivered("first-id"))
    sent, _ = await send_with(fake, unknowns=0)
    assert fake.since == [] and len(fake.sends) == 1 and sent.calls[0].detail is None


async def test_an_adapter_without_lookup_is_not_a_lookup() -> None:
    plain = NoLookup()
    assert lookup_of(plain) is None and isinstance(Fake(None), Lookup)
    sent, _ = await send_with(plain, unknowns=1)
    assert plain.sends == 1 and "may be a duplicate" in (sent.calls[0].detail or "")
