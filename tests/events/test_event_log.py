"""The delivery timeline: each event once, verdicts that never regress, engagement counted,
dead addresses suppressed, and every new event (Herald's own milestones included) handed to
the consumers in the transaction that wrote it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.config import Settings
from herald.events.kinds import EventKind
from herald.events.models import DeliveryEvent, Engagement
from herald.events.service import Incoming, Recorded
from herald.kit.clock import utcnow
from herald.kit.uow import unit_of_work
from herald.notifications.models import Delivery
from herald.providers.smtp import SmtpAdapter
from herald.recipients.models import Suppression
from herald.runtime import Runtime, build_runtime
from herald.sandbox.smtp import SmtpSimulator
from tests.harness import Herald, client_for


class Spy:
    def __init__(self) -> None:
        self.seen: list[Recorded] = []

    async def recorded(self, conn: AsyncConnection, events: Sequence[Recorded]) -> None:
        assert conn.in_transaction()
        self.seen.extend(events)


@pytest.fixture
def spy() -> Spy:
    return Spy()


@pytest.fixture
async def spied(settings: Settings, smtp_sim: SmtpSimulator, spy: Spy) -> AsyncIterator[Runtime]:
    rt = build_runtime(
        settings, adapters=[SmtpAdapter(smtp_sim.adapter_config())], single_process=True, consumers=[spy]
    )
    yield rt
    await rt.close()


@pytest.fixture
async def h(spied: Runtime, smtp_sim: SmtpSimulator) -> AsyncIterator[Herald]:
    client = await client_for(spied, "events-app")
    yield Herald(spied, client, smtp_sim.inbox)
    await client.aclose()


async def sent_delivery(h: Herald) -> uuid.UUID:
    await h.user()
    await h.template()
    r = await h.notify()
    assert r.status_code == 202, r.text
    await h.drain()
    return uuid.UUID(r.json()["deliveries"][0]["id"])


async def record(h: Herald, *events: Incoming, app_id: uuid.UUID | None = None) -> tuple[int, int, int]:
    async with unit_of_work(h.runtime.sessions) as uow:
        s = await h.runtime.events.record(uow, events, app_id=app_id)
    return len(s.recorded), s.duplicates, s.unknown


BASE = utcnow().replace(microsecond=0)


def event(d: uuid.UUID, kind: str, dedupe: str, minutes: int = 0, **kw: object) -> Incoming:
    return Incoming(d, kind, "sendgrid", BASE + timedelta(minutes=minutes), dedupe, **kw)  # type: ignore[arg-type]


async def delivery(h: Herald, d: uuid.UUID) -> Delivery:
    async with h.runtime.sessions() as session:
        row = await session.get(Delivery, d)
        assert row is not None
        return row


async def test_herald_milestones_reach_the_consumers_once(h: Herald, spy: Spy) -> None:
    d = await sent_delivery(h)
    kinds = [(r.event.kind, r.target.delivery_id) for r in spy.seen]
    assert kinds == [(EventKind.ACCEPTED, d), (EventKind.SENT, d)]
    sent = spy.seen[1].target
    assert (sent.channel, sent.template, sent.provider, sent.user_id) == ("email", "order-shipped", "smtp", "42")


async def test_an_event_seen_twice_counts_once_and_a_verdict_never_regresses(h: Herald, spy: Spy) -> None:
    d = await sent_delivery(h)
    spy.seen.clear()
    assert await record(h, event(d, "delivered", "ev-1")) == (1, 0, 0)
    assert await record(h, event(d, "delivered", "ev-1"), event(d, "delivered", "ev-1")) == (0, 2, 0)
    # A bounce after delivered is of the same rank: recorded, but the outcome stands.
    assert await record(h, event(d, "bounced", "ev-2", code="hard")) == (1, 0, 0)
    row = await delivery(h, d)
    assert (row.outcome, row.outcome_code) == ("delivered", None)
    # A complaint is worse than delivered, whenever it comes.
    assert await record(h, event(d, "complained", "ev-3", minutes=-5)) == (1, 0, 0)
    assert (await delivery(h, d)).outcome == "complained"
    assert [(r.event.kind, r.outcome_changed) for r in spy.seen] == [
        ("delivered", True),
        ("bounced", False),
        ("complained", True),
    ]
    async with h.runtime.sessions() as session:
        timeline = (await session.scalars(select(DeliveryEvent.kind).where(DeliveryEvent.delivery_id == d))).all()
    assert sorted(timeline) == ["bounced", "complained", "delivered"]


async def test_out_of_order_verdicts_in_one_batch_settle_on_the_highest(h: Herald, spy: Spy) -> None:
    d = await sent_delivery(h)
    spy.seen.clear()
    late_soft = event(d, "bounced", "b1", minutes=-2, code="soft")
    delivered = event(d, "delivered", "d1", minutes=-1)
    assert await record(h, delivered, late_soft) == (2, 0, 0)
    assert (await delivery(h, d)).outcome == "delivered"
    # Sorted by time: the soft bounce came first and moved the outcome, then delivered did.
    assert {r.event.kind: r.outcome_changed for r in spy.seen} == {"bounced": True, "delivered": True}


async def test_a_hard_bounce_suppresses_the_address_and_a_soft_one_does_not(h: Herald) -> None:
    d = await sent_delivery(h)
    soft = event(d, "bounced", "s", code="soft", address="soft@example.com", suppress=False)
    hard = event(d, "bounced", "h", code="hard", address="ada@example.com", suppress=True)
    await record(h, soft, hard)
    async with h.runtime.sessions() as session:
        rows = (await session.scalars(select(Suppression))).all()
    assert [(s.channel, s.address, s.reason) for s in rows] == [("email", "ada@example.com", "sendgrid:hard")]
    assert await record(h, event(d, "bounced", "h2", code="hard", address="ada@example.com", suppress=True)) == (
        1,
        0,
        0,
    )


async def test_engagement_counts_every_open_and_marks_only_the_first_unique(h: Herald, spy: Spy) -> None:
    d = await sent_delivery(h)
    spy.seen.clear()
    opens = [event(d, "opened", f"o{i}", minutes=i) for i in (3, 1, 2)]
    assert await record(h, *opens) == (3, 0, 0)
    assert await record(h, event(d, "opened", "o0", minutes=-10), event(d, "clicked", "c1")) == (2, 0, 0)
    async with h.runtime.sessions() as session:
        summary = {e.kind: e for e in (await session.scalars(select(Engagement))).all()}
    assert summary["opened"].count == 4 and summary["clicked"].count == 1
    assert summary["opened"].first_at == BASE - timedelta(minutes=10)
    assert summary["opened"].last_at == BASE + timedelta(minutes=3)
    firsts = [(r.event.kind, r.event.dedupe) for r in spy.seen if r.first_of_kind]
    assert firsts == [("opened", "o1"), ("clicked", "c1")]


async def test_an_unknown_or_another_apps_delivery_is_acknowledged_not_recorded(h: Herald, spy: Spy) -> None:
    d = await sent_delivery(h)
    spy.seen.clear()
    assert await record(h, event(uuid.uuid4(), "delivered", "x")) == (0, 0, 1)
    assert await record(h, event(d, "delivered", "y"), app_id=uuid.uuid4()) == (0, 0, 1)
    assert spy.seen == []
    assert (await delivery(h, d)).outcome is None


async def test_a_batch_of_thousands_is_recorded_whole_once_and_counted(h: Herald, spy: Spy) -> None:
    """A batch larger than one statement's rows (the writer groups up to 2,000 callbacks, the
    pixel buffer 500 events): every new event is returned as new, a repeat of the whole batch
    records nothing again, and the engagement summary counts each event once."""
    d = await sent_delivery(h)
    opens = [event(d, EventKind.OPENED, f"open-{n}", minutes=n % 50) for n in range(1500)]
    clicks = [event(d, EventKind.CLICKED, f"click-{n}", detail=f"https://x.example/{n}") for n in range(1500)]
    assert await record(h, *opens, *clicks) == (3000, 0, 0)
    later = [event(d, EventKind.OPENED, f"open-late-{n}") for n in range(10)]
    assert await record(h, *later, *opens, *clicks) == (10, 3000, 0)
    async with h.runtime.sessions() as s:
        counts = {e.kind: e.count for e in (await s.scalars(select(Engagement).where(Engagement.delivery_id == d)))}
        assert counts == {EventKind.OPENED: 1510, EventKind.CLICKED: 1500}
        stored = await s.scalars(select(DeliveryEvent.dedupe).where(DeliveryEvent.delivery_id == d))
        assert len(set(stored)) == 3010
    firsts = [r for r in spy.seen if r.event.kind in (EventKind.OPENED, EventKind.CLICKED) and r.first_of_kind]
    assert {r.event.dedupe for r in firsts} == {"open-0", "click-0"}
