"""The rollups' consumer: what each event counts, once, in its delivery's hour, on both backends."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from herald.analytics.consumer import counted, fold_arrays, increments
from herald.analytics.folding import Folder, fold_all
from herald.analytics.models import HourlyRollup, MonthlyRollup, PendingIncrement
from herald.analytics.repository import FOLD_KEY_NAMES
from herald.notifications.models import Delivery
from herald.runtime import Runtime
from tests.analytics.seeding import app_ids, delivery, event, fold, publish, record, recorded, rows
from tests.harness import Herald, client_for

T0 = datetime(2026, 3, 1, 10, 59, 30, tzinfo=UTC)  # accepted at; its hour is 10:00
H0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
LATER = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)  # events days later


@pytest.mark.parametrize(
    ("kind", "code", "changed", "first", "expected"),
    [
        ("accepted", None, False, False, ("accepted",)),
        ("sent", None, False, False, ("sent",)),
        ("failed", None, False, False, ("failed",)),
        ("dead", None, False, False, ("dead",)),
        ("delivered", None, True, False, ("delivered",)),
        ("delivered", None, False, False, ()),
        ("undelivered", "30003", True, False, ("undelivered",)),
        ("undelivered", "30003", False, False, ()),
        ("bounced", "hard", True, False, ("bounced",)),
        ("bounced", None, True, False, ("bounced",)),
        ("bounced", "soft", True, False, ()),
        ("bounced", "hard", False, False, ()),
        ("complained", None, True, False, ("complained",)),
        ("complained", None, False, False, ()),
        ("opened", None, False, True, ("opened", "opened_unique")),
        ("opened", None, False, False, ("opened",)),
        ("clicked", None, False, True, ("clicked", "clicked_unique")),
        ("clicked", None, False, False, ("clicked",)),
        ("unsubscribed", None, False, True, ("unsubscribed",)),
        ("unsubscribed", None, False, False, ()),
    ],
)
def test_what_one_new_event_counts(
    kind: str, code: str | None, changed: bool, first: bool, expected: tuple[str, ...]
) -> None:
    r = recorded(uuid.uuid4(), kind, T0, changed=changed, first=first, code=code)
    assert counted(r) == expected


def test_a_batch_is_one_increment_per_hourly_key() -> None:
    app = uuid.uuid4()
    batch = [
        recorded(app, "sent", T0),
        recorded(app, "sent", T0 - timedelta(minutes=30)),  # the same hour
        recorded(app, "sent", T0 + timedelta(minutes=1)),  # 11:00
        recorded(app, "sent", T0, provider=None, template=None),
        recorded(app, "delivered", T0, changed=False),  # counts nothing: no key
    ]
    batch.append(recorded(app, "sent", datetime(2026, 2, 28, 23, 59, tzinfo=UTC)))  # the month before
    sent = 1
    assert {(k[1], k[2], k[5]): v[sent] for k, v in increments(batch).items()} == {
        (H0, "welcome", "smtp"): 2,
        (H0 + timedelta(hours=1), "welcome", "smtp"): 1,
        (H0, "", ""): 1,
        (datetime(2026, 2, 28, 23, tzinfo=UTC), "welcome", "smtp"): 1,
    }


async def test_a_fold_adds_each_hour_to_its_day_and_month(runtime: Runtime) -> None:
    """Staged hourly increments, folded: the daily and monthly rows are their sums, and the
    staging table is empty afterwards (a second fold adds nothing)."""
    c = await client_for(runtime, "app-one")
    await c.aclose()
    [app] = await app_ids(runtime)
    batch = [
        recorded(app, "sent", T0),
        recorded(app, "sent", T0 + timedelta(minutes=1)),  # 11:00, the same day
        recorded(app, "sent", T0, provider=None, template=None),
        recorded(app, "sent", datetime(2026, 2, 28, 23, 59, tzinfo=UTC)),  # the month before
    ]
    await publish(runtime.engine, batch[:2])
    await publish(runtime.engine, batch[2:])
    assert await fold(runtime) == 4  # one staged row per key and batch
    assert await fold(runtime) == 0

    def sent(found: list[dict[str, Any]]) -> dict[tuple[Any, str, str], int]:
        return {(r["bucket"], r["template"], r["provider"]): r["sent"] for r in found}

    assert sent(await rows(runtime, "daily")) == {
        (date(2026, 3, 1), "welcome", "smtp"): 2,
        (date(2026, 3, 1), "", ""): 1,
        (date(2026, 2, 28), "welcome", "smtp"): 1,
    }
    assert sent(await rows(runtime, "monthly")) == {
        (date(2026, 3, 1), "welcome", "smtp"): 2,
        (date(2026, 3, 1), "", ""): 1,
        (date(2026, 2, 1), "welcome", "smtp"): 1,
    }
    # The same keys again: added to the rows folded before.
    await publish(runtime.engine, batch[:1])
    assert sent(await rows(runtime, "monthly"))[(date(2026, 3, 1), "welcome", "smtp")] == 3


async def test_each_kind_counts_through_the_event_log(herald: Herald) -> None:
    rt = herald.runtime
    [app] = await app_ids(rt)
    one, two, three = [await delivery(rt, app, T0) for _ in range(3)]
    await record(
        rt,
        [
            *(event(d, "accepted", T0) for d in (one, two, three)),
            event(one, "sent", LATER),
            event(one, "delivered", LATER),
            *(event(one, "opened", LATER + timedelta(minutes=m)) for m in range(3)),
            event(one, "clicked", LATER),
            event(one, "unsubscribed", LATER, "u1"),
            event(one, "unsubscribed", LATER, "u2"),
            event(one, "complained", LATER, "c1"),
            event(one, "complained", LATER, "c2"),  # a second report of it: the delivery counts once
            event(two, "sent", LATER),
            event(two, "bounced", LATER, "b1", code="soft"),  # may still be delivered: not counted
            event(two, "bounced", LATER, "b2", code="hard"),
            event(two, "delivered", LATER, "late"),  # after a hard bounce: the ladder does not move
            event(three, "failed", LATER),
            event(three, "dead", LATER),
        ],
    )
    expected = {"accepted": 3, "sent": 2, "delivered": 1, "bounced": 1, "complained": 1, "failed": 1, "dead": 1,
                "unsubscribed": 1, "opened": 3, "opened_unique": 1, "clicked": 1, "clicked_unique": 1}  # fmt: skip
    key = {"template": "welcome", "version": "", "channel": "email", "provider": "smtp"}
    assert await rows(rt) == [{"bucket": H0, **key, **expected}]
    assert await rows(rt, "daily") == [{"bucket": date(2026, 3, 1), **key, **expected}]
    assert await rows(rt, "monthly") == [{"bucket": date(2026, 3, 1), **key, **expected}]


async def test_duplicates_and_any_order_count_once_and_the_same(herald: Herald) -> None:
    """The same story, once in order in one transaction, once shuffled with every event sent
    twice, one transaction each: the two hours hold the same counters.

    (Verdicts of different ranks are order-dependent by design: a "delivered" that arrives
    after a "complained" no longer moves the outcome and is not counted; see the README.)"""
    rt = herald.runtime
    [app] = await app_ids(rt)
    story = [("accepted", "a", None), ("sent", "s", None), ("bounced", "b-soft", "soft"), ("delivered", "d1", None),
             ("delivered", "d2", None), ("opened", "o1", None), ("opened", "o2", None), ("clicked", "c1", None),
             ("unsubscribed", "u1", None), ("unsubscribed", "u2", None)]  # fmt: skip
    a = await delivery(rt, app, T0)
    b = await delivery(rt, app, T0 + timedelta(hours=5))
    await record(rt, [event(a, k, LATER, dd, code=c) for k, dd, c in story])
    events = [event(b, k, LATER, dd, code=c) for k, dd, c in story] * 2
    random.Random(7).shuffle(events)
    duplicates = 0
    for e in events:
        duplicates += (await record(rt, [e])).duplicates
    assert duplicates == len(story)
    first, second = await rows(rt)
    assert (first.pop("bucket"), second.pop("bucket")) == (H0, H0 + timedelta(hours=5))
    assert first == second
    # The coarser tables hold the two deliveries' stories added up.
    twice = {k: v * 2 for k, v in first.items() if isinstance(v, int)}
    key = {k: v for k, v in first.items() if not isinstance(v, int)}
    for table in ("daily", "monthly"):
        [row] = await rows(rt, table)
        assert row == {"bucket": date(2026, 3, 1), **key, **twice}, table
    assert {k: first[k] for k in ("accepted", "sent", "delivered", "opened", "opened_unique", "unsubscribed")} == {
        "accepted": 1, "sent": 1, "delivered": 1, "opened": 2, "opened_unique": 1, "unsubscribed": 1
    }  # fmt: skip


async def test_a_real_delivery_counts_in_the_hour_it_was_accepted(herald: Herald) -> None:
    """A notification accepted and sent through the API and a worker: its receipt and its
    opens, days later, land in the hour of its acceptance, under the provider that sent it."""
    await herald.user()
    await herald.template()
    r = await herald.notify()
    assert r.status_code == 202, r.text
    await herald.drain()
    body = await herald.notification(r.json()["id"])
    [d] = body["deliveries"]
    delivery_id = uuid.UUID(d["id"])
    async with herald.runtime.sessions() as session:
        sent = await session.get(Delivery, delivery_id)
        assert sent is not None and sent.provider is not None
        accepted, provider = sent.created_at, sent.provider
    later = accepted + timedelta(days=3)
    await record(herald.runtime, [event(delivery_id, "delivered", later), event(delivery_id, "opened", later)])
    await record(herald.runtime, [event(delivery_id, "opened", later + timedelta(hours=1))])
    await fold(herald.runtime)
    async with herald.runtime.sessions() as session:
        found = {r.provider: r for r in (await session.scalars(select(HourlyRollup))).all()}
    # The intake's `accepted` knows no provider yet; the worker's `sent` and what follows do.
    assert sorted(found) == sorted(["", provider]) and found[""].accepted == 1
    row = found[provider]
    assert row.hour == accepted.replace(minute=0, second=0, microsecond=0)
    assert (row.template, row.channel, row.provider) == ("order-shipped", "email", provider)
    assert (row.sent, row.delivered, row.opened, row.opened_unique) == (1, 1, 2, 1)


async def test_concurrent_writers_and_folders_count_every_increment_once(runtime: Runtime) -> None:
    """Writers stage the same keys in different orders while three folders and a reader's
    waiting fold run side by side, the folders in batches smaller than what is staged: they share
    the rows out (PostgreSQL's SKIP LOCKED; SQLite's one writer), lock the rollups' rows in the
    same order (no deadlock), and every increment is counted once."""
    c = await client_for(runtime, "app-one")
    await c.aclose()
    [app] = await app_ids(runtime)
    keys = [("welcome", "email"), ("digest", "email"), ("welcome", "sms"), ("digest", "sms")]
    orders = [keys, list(reversed(keys)), keys[1:] + keys[:1], keys[2:] + keys[:2]]

    async def writer(order: list[tuple[str, str]]) -> None:
        for _ in range(5):
            await publish(runtime.engine, [recorded(app, "sent", T0, template=t, channel=ch) for t, ch in order])

    async def folder() -> None:
        small = Folder(runtime.engine, interval=0, batch=3)
        for _ in range(10):
            await small.once()

    async def reader() -> None:
        async with runtime.engine.begin() as conn:
            await fold_all(conn)

    await asyncio.gather(*(writer(o) for o in orders), *(folder() for _ in range(3)), reader())
    await fold(runtime)
    async with runtime.sessions() as session:
        staged = (await session.execute(select(func.count()).select_from(PendingIncrement))).scalar_one()
        sent = dict(((r.template, r.channel), r.sent) for r in (await session.scalars(select(HourlyRollup))).all())
        monthly = (await session.scalars(select(MonthlyRollup))).all()
    assert staged == 0
    assert sent == {k: 20 for k in keys}
    assert sorted(((r.template, r.channel), r.sent) for r in monthly) == sorted((k, 20) for k in keys)


async def test_a_folder_counts_what_it_folded_and_times_each_transaction(runtime: Runtime) -> None:
    """What an operator reads to see the folders keep up, and (on SQLite) how long they hold
    the write lock: every staged row folded counted, one observation per transaction."""
    c = await client_for(runtime, "app-one")
    await c.aclose()
    [app] = await app_ids(runtime)
    for template in ("a", "b", "c", "d", "e"):  # five batches, one staged row each
        await publish(runtime.engine, [recorded(app, "sent", T0, template=template)])
    folded0 = REGISTRY.get_sample_value("herald_analytics_folded_increments_total") or 0.0
    folds0 = REGISTRY.get_sample_value("herald_analytics_fold_seconds_count") or 0.0
    assert await Folder(runtime.engine, interval=0, batch=2).once() == 5
    assert REGISTRY.get_sample_value("herald_analytics_folded_increments_total") == folded0 + 5
    assert REGISTRY.get_sample_value("herald_analytics_fold_seconds_count") == folds0 + 3  # 2, 2, then 1


def test_fold_arrays_send_each_key_once_and_a_number_per_delivery() -> None:
    """A batch's milestones share few keys: each key's values are sent once, and each
    delivery names its key by number (from 1), so the statement's work grows with keys."""
    app = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(4)]
    milestones = [
        (ids[0], app, T0, "welcome", 2, "email", "smtp", "sent"),
        (ids[1], app, T0 + timedelta(seconds=5), "welcome", 2, "email", "smtp", "sent"),  # the same hour: same key
        (ids[2], app, T0, None, None, "sms", None, "failed"),
        (ids[3], app, T0, "welcome", 2, "email", "smtp", "failed"),
    ]
    arrays = fold_arrays(milestones)
    assert arrays["m_id"] == ids and arrays["m_key"] == [1, 1, 2, 3]
    assert arrays["k_counter"] == ["sent", "failed", "failed"]
    assert arrays["k_template"] == ["welcome", "", "welcome"] and arrays["k_template_version"] == ["2", "", "2"]
    assert arrays["k_hour"] == [H0] * 3 and arrays["k_provider"] == ["smtp", "", "smtp"]
    assert fold_arrays([]) == {**{f"k_{n}": [] for n in FOLD_KEY_NAMES}, "m_id": [], "m_key": []}
