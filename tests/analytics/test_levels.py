"""The rollups' coarser levels (`models.LEVELS`): a query naming exactly a level's dimensions
reads that level's rows, and gets what the combinations' rows say, on both backends."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import httpx

from herald.analytics.folding import fold_all
from herald.analytics.models import DIMENSIONS, LEVELS, level_of
from herald.analytics.repository import TABLES, Filters, Grain, Piece, level_for, sums
from herald.analytics.service import pieces
from herald.events.service import Recorded
from herald.runtime import Runtime
from tests.analytics.seeding import app_ids, fold, publish, recorded, rows
from tests.analytics.test_periods import PERIODS, at

TEMPLATES, CHANNELS, PROVIDERS = ("welcome", "digest"), ("email", "sms", "push"), ("p1", "p2", None)


def test_a_query_reads_the_level_that_keeps_exactly_what_it_names() -> None:
    assert level_for(Filters(), None) == "all"
    assert level_for(Filters(), "day") == "all"  # a series groups by its bucket
    assert level_for(Filters(), "template") == "template"
    assert level_for(Filters(template="welcome"), None) == "template"
    assert level_for(Filters(template="welcome"), "template_version") == "template_version"
    assert level_for(Filters(template="welcome", template_version=2), "hour") == "template_version"
    assert level_for(Filters(channel="sms"), "channel") == "channel"
    assert level_for(Filters(), "provider") == "provider"
    assert level_for(Filters(channel="email"), "provider") == "channel_provider"
    # Dimensions no level keeps together: the combinations' rows.
    assert level_for(Filters(channel="sms"), "template") is None
    assert level_for(Filters(template="welcome", provider="p1"), None) is None
    assert all(level_of(kept) == name for name, kept in LEVELS.items())


async def _seed(runtime: Runtime) -> None:
    """Events of two templates (two versions each) and inline content, three channels and three
    providers (or none), every few hours over three months, staged as the consumer stages them."""
    [app, *_] = await app_ids(runtime)
    rng = random.Random(7)
    events: list[Recorded] = []
    t = at("2025-12-20T03:17")
    while t < at("2026-03-15T00:00"):
        template = rng.choice([*TEMPLATES, None])
        version = rng.choice([1, 2]) if template else None
        channel, provider = rng.choice(CHANNELS), rng.choice(PROVIDERS)
        for kind in rng.sample(["accepted", "sent", "delivered", "opened", "bounced"], 3):
            events.append(
                recorded(app, kind, t, template=template, version=version, channel=channel, provider=provider)
            )
        t += timedelta(hours=5, minutes=rng.randint(0, 240))
    for i in range(0, len(events), 83):
        await publish(runtime.engine, events[i : i + 83])


QUERIES: list[tuple[Filters, str | None]] = [
    (Filters(), None),
    (Filters(), "template"),
    (Filters(), "channel"),
    (Filters(), "provider"),
    (Filters(template="welcome"), None),
    (Filters(template="welcome"), "template_version"),
    (Filters(template="digest", template_version=2), None),
    (Filters(channel="sms"), None),
    (Filters(channel="push"), "channel"),
    (Filters(provider="p2"), None),
    (Filters(channel="email"), "provider"),
    (Filters(channel="sms", provider="p1"), None),
    (Filters(template=""), None),  # inline content
]


async def test_every_level_answers_as_the_combinations_rows_do(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await _seed(runtime)
    [app, *_] = await app_ids(runtime)
    async with runtime.sessions() as session, session.begin():
        await fold_all(await session.connection())
        for start, end in PERIODS:
            cut = pieces(datetime.fromisoformat(start), datetime.fromisoformat(end))
            for f, group in QUERIES:
                assert level_for(f, group) is not None
                leveled = sorted(await sums(session, app, cut, f, group), key=str)
                combined = sorted(await sums(session, app, cut, f, group, levels=False), key=str)
                assert leveled == combined, (start, end, f, group)
        # A series (grouped by its bucket) likewise, by day and by hour.
        series: list[tuple[Grain, str, str]] = [
            ("day", "2025-12-20", "2026-03-15"),
            ("hour", "2026-01-25", "2026-02-01"),
        ]
        for grain, start, end in series:
            whole: list[Piece] = [(grain, at(f"{start}T00:00"), at(f"{end}T00:00"), 1)]
            for f in (Filters(), Filters(template="welcome"), Filters(channel="email")):
                leveled = sorted(await sums(session, app, whole, f, grain), key=str)
                combined = sorted(await sums(session, app, whole, f, grain, levels=False), key=str)
                assert leveled and leveled == combined, (grain, f)


async def test_the_folder_counts_each_increment_at_every_level(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await _seed(runtime)
    await fold(runtime)
    total = sum(r.get("sent", 0) for r in await rows(runtime, "hourly"))
    assert total > 0
    for table in ("hourly_levels", "daily_levels", "monthly_levels"):
        t = TABLES[table]
        async with runtime.sessions() as session:
            found = (await session.execute(t.model.__table__.select())).mappings().all()
        by_level: dict[str, int] = {}
        for r in found:
            by_level[r["level"]] = by_level.get(r["level"], 0) + r["sent"]
            kept = LEVELS[r["level"]]
            # The dimensions a level drops are "" (a kept one may be "" too: inline content).
            assert all(r[d] == "" for d in DIMENSIONS if d not in kept)
        assert by_level == dict.fromkeys(LEVELS, total), table
