"""Herald's own milestones counted in the writer's own statement (PostgreSQL, no webhook
message owed: `EventLog.foldable`), or published in its transaction (SQLite, or an endpoint
wants them): either way each counts once, and only what the statement really wrote counts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, update

from herald.analytics.models import DailyRollup, HourlyRollup, MonthlyRollup, PendingIncrement
from herald.delivery.results import Result
from herald.events.repository import Target
from herald.notifications.models import Delivery, DeliveryState
from herald.webhooks.models import WebhookMessage
from tests.analytics.seeding import fold
from tests.harness import Herald, statements_run
from tests.webhooks.support import subscribe

HOOK = "https://hooks.example.com/herald"


@contextmanager
def watching(h: Herald, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], list[str]]]:
    """(transaction commands sent by asyncpg, statements sent by SQLAlchemy) meanwhile."""
    transactions: list[str] = []
    original = asyncpg.Connection.execute

    async def execute(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        transactions.append(query.strip().rstrip(";").upper())
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", execute)
    try:
        with statements_run(h.runtime) as statements:
            yield transactions, statements
    finally:
        monkeypatch.undo()


async def leased(h: Herald, owner: str) -> Target:
    """A new delivery, leased to `owner` as if a worker were sending it."""
    await h.user()
    await h.template()
    r = await h.notify()
    assert r.status_code == 202, r.text
    d = uuid.UUID(r.json()["deliveries"][0]["id"])
    async with h.runtime.sessions() as session, session.begin():
        await session.execute(
            update(Delivery).where(Delivery.id == d).values(state=DeliveryState.SENDING, lease_owner=owner)
        )
        row = await session.get(Delivery, d)
        assert row is not None
        return Target(d, row.app_id, row.notification_id, "email", "42", None, "order-shipped", row.template_version,
                      "smtp", row.created_at)  # fmt: skip


def sent(t: Target, owner: str) -> Result:
    return Result(t.delivery_id, t.app_id, "42", owner, DeliveryState.DELIVERED, None, 0, provider="smtp",
                  provider_message_id="m1", finished=True, target=t)  # fmt: skip


async def staged(h: Herald) -> int:
    """How many increments wait to be folded."""
    async with h.runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(PendingIncrement))).scalar_one())


async def counts(h: Herald, provider: str) -> list[tuple[int, int]]:
    """(accepted, sent) of the hourly, daily and monthly rows of `provider`, once folded."""
    await fold(h.runtime)
    out = []
    async with h.runtime.sessions() as session:
        for model in (HourlyRollup, DailyRollup, MonthlyRollup):
            found = await session.execute(select(model.accepted, model.sent).where(model.provider == provider))
            rows = found.all()
            out.append((sum(a for a, _ in rows), sum(s for _, s in rows)))
    return out


async def test_a_stale_result_counts_nothing_and_the_live_one_once(
    herald: Herald, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result whose lease another worker took over writes nothing, so its `sent` is not
    counted; the live worker's is, once, in every table. On PostgreSQL in one statement; on
    SQLite staged in the recorder's transaction, only for the row the live result wrote."""
    t = await leased(herald, "live")
    postgres = herald.runtime.engine.dialect.name == "postgresql"
    before = await staged(herald)
    with watching(herald, monkeypatch) as (transactions, statements):
        await herald.runtime.recorder.record(sent(t, "stale"))
        after_stale = await staged(herald)
        await herald.runtime.recorder.record(sent(t, "live"))
    assert after_stale == before
    assert await counts(herald, "smtp") == [(0, 1)] * 3
    async with herald.runtime.sessions() as session:
        row = await session.get(Delivery, t.delivery_id)
        assert row is not None and (row.state, row.lease_owner) == (DeliveryState.DELIVERED, None)
    if postgres:
        assert "COMMIT" not in transactions, transactions  # (the BEGIN and ROLLBACK are the read's)
        folded = [s for s in statements if "fold_rows" in s]
        assert len(folded) == 2 and all(s.startswith("WITH attempted AS") for s in folded), statements
        assert not [s for s in statements if s.startswith("INSERT INTO analytics_pending")], statements
    else:
        assert len([s for s in statements if s.startswith("INSERT INTO analytics_pending")]) == 1, statements


@pytest.mark.parametrize("endpoint", [False, True], ids=["folded", "published"])
async def test_two_results_for_one_delivery_in_one_batch_count_once(herald: Herald, endpoint: bool) -> None:
    """A worker can hold a delivery twice (its lease ran out mid-send and the same worker claimed
    it again, as under a database's restart): both results may reach the recorder in one batch,
    under the same owner. The delivery is written once and its `sent` counted once, and an
    endpoint subscribed to `sent` gets one message. (Seen once in a chaos run: 98,974 `sent` for
    98,973 delivered; both counted before.)"""
    t = await leased(herald, "w1")
    if endpoint:
        await subscribe(herald, HOOK, ["sent"])
    await asyncio.gather(herald.runtime.recorder.record(sent(t, "w1")), herald.runtime.recorder.record(sent(t, "w1")))
    assert await counts(herald, "smtp") == [(0, 1)] * 3
    async with herald.runtime.sessions() as session:
        messages = (await session.scalars(select(WebhookMessage))).all()
    assert [m.event_type for m in messages] == (["sent"] if endpoint else [])


async def test_an_endpoint_that_wants_the_milestone_gets_its_message_and_it_counts_once(
    herald: Herald, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an endpoint subscribed to `sent`, the recorder writes the batch, the message and the
    counts in one transaction (nothing folded), and a stale result still counts nothing."""
    t = await leased(herald, "live")
    await subscribe(herald, HOOK, ["sent"])
    with watching(herald, monkeypatch) as (transactions, statements):
        await herald.runtime.recorder.record(sent(t, "stale"))
        await herald.runtime.recorder.record(sent(t, "live"))
    assert await counts(herald, "smtp") == [(0, 1)] * 3
    async with herald.runtime.sessions() as session:
        messages = (await session.scalars(select(WebhookMessage))).all()
    assert [m.event_type for m in messages] == ["sent"]
    assert not [s for s in statements if "fold_rows" in s], statements
    if herald.runtime.engine.dialect.name == "postgresql":
        assert transactions.count("COMMIT") == 2, transactions


async def test_the_intake_counts_what_it_inserted_and_not_a_repeat(herald: Herald) -> None:
    """`accepted` counts each delivery the intake inserted once: a repeated event id (a
    duplicate, not inserted) adds nothing, with or without an endpoint for `accepted`."""
    await herald.user()
    await herald.template()
    for _ in range(2):
        r = await herald.notify(event_id="once")
        assert r.status_code in (200, 202), r.text
    assert await counts(herald, "") == [(1, 0)] * 3
    await subscribe(herald, HOOK, ["accepted"])
    for _ in range(2):
        r = await herald.notify(event_id="twice")
        assert r.status_code in (200, 202), r.text
    assert await counts(herald, "") == [(2, 0)] * 3
    async with herald.runtime.sessions() as session:
        messages = (await session.scalars(select(WebhookMessage))).all()
    assert [m.event_type for m in messages] == ["accepted"]
