"""The rollup tables: one row per app, template (and version), channel, provider and bucket.

Three granularities, all three tables written by the same statement: an hour (hourly series and
the ragged hours at the ends of a period), a UTC day (daily series, the ragged days) and a UTC
month (the whole months of a period: a year of a busy app is 12 rows per combination, where
the daily table holds 365 and the hourly one 8,760). A query reads each part of its period
from the coarsest table that covers it. A row is never scanned from the event log: each
counter only grows by the increments of new events.

`template` is "" for a notification with inline content, `provider` "" for what happened
before any provider had the delivery (accepted, failed or dead without a send), and
`template_version` "" for a delivery that recorded none (`version_key`): "" rather than NULL,
as NULLs would break the uniqueness of the key on both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from herald.kit.db import Base, UtcDateTime

# Every counter, in the order of the columns. `failed` is a permanent failure (a provider
# refused it for good), `dead` a delivery whose retries or age ran out: kept apart because
# they call for different fixes (content or address vs. a provider outage).
COUNTERS: tuple[str, ...] = (
    "accepted",
    "sent",
    "delivered",
    "undelivered",
    "bounced",
    "complained",
    "failed",
    "dead",
    "unsubscribed",
    "opened",
    "opened_unique",
    "clicked",
    "clicked_unique",
)
# The dimensions of a row, after the app and the bucket.
DIMENSIONS: tuple[str, ...] = ("template", "template_version", "channel", "provider")


def version_key(template: str | None, version: int | None) -> str:
    """A delivery's template version as the rollups key it: its number as text, "" without one.

    The version is the one the delivery recorded at intake (`deliveries.template_version`, the
    live version the intake read and validated against), so every event of a delivery, from
    its `accepted` to an open weeks later, counts under the same version and the rates of a
    version divide like by like. Only under a template: a test send is inline content (no
    template) whose version is stamped after its `accepted` was counted (`templates.testsend`).
    """
    return str(version) if template and version is not None else ""


def _counter() -> Mapped[int]:
    # 64-bit: an overflow would fail the transaction that records a delivery's events.
    return mapped_column(BigInteger, default=0)


class _Counters:
    """The counters of a rollup row (every table has all of them, in the order of COUNTERS)."""

    accepted: Mapped[int] = _counter()
    sent: Mapped[int] = _counter()
    delivered: Mapped[int] = _counter()
    undelivered: Mapped[int] = _counter()
    bounced: Mapped[int] = _counter()
    complained: Mapped[int] = _counter()
    failed: Mapped[int] = _counter()
    dead: Mapped[int] = _counter()
    unsubscribed: Mapped[int] = _counter()
    opened: Mapped[int] = _counter()
    opened_unique: Mapped[int] = _counter()
    clicked: Mapped[int] = _counter()
    clicked_unique: Mapped[int] = _counter()


class _Dimensions:
    template: Mapped[str] = mapped_column(String(200), primary_key=True)
    template_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)


def _app() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)


class HourlyRollup(_Counters, _Dimensions, Base):
    __tablename__ = "analytics_hourly"

    app_id: Mapped[uuid.UUID] = _app()
    # The hour (UTC) the deliveries counted here were accepted in.
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)


class DailyRollup(_Counters, _Dimensions, Base):
    __tablename__ = "analytics_daily"
    # A filter by template reads its rows alone (no counter here: increments stay HOT updates).
    __table_args__ = (Index("ix_analytics_daily_template", "app_id", "template", "day"),)

    app_id: Mapped[uuid.UUID] = _app()
    # The UTC day the deliveries counted here were accepted on.
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class MonthlyRollup(_Counters, _Dimensions, Base):
    __tablename__ = "analytics_monthly"
    __table_args__ = (Index("ix_analytics_monthly_template", "app_id", "template", "month"),)

    app_id: Mapped[uuid.UUID] = _app()
    # The first day of the UTC month the deliveries counted here were accepted in.
    month: Mapped[date] = mapped_column(Date, primary_key=True)


# The coarser levels the folder also counts at, each keeping the dimensions named (the others
# are ""): a query that filters and groups by exactly those reads that level's rows, a few per
# bucket, instead of every combination's (a busy app's year: 13 monthly rows for its totals,
# not 7,800). The levels are the console's and the API's usual questions: the app's totals
# and series, by template (and its versions), by channel, by provider (within a channel).
# Only the folder writes rollups (the hot path stages its increments), so the levels cost it a
# few more rows per fold and the hot path nothing.
LEVELS: dict[str, tuple[str, ...]] = {
    "all": (),
    "template": ("template",),
    "template_version": ("template", "template_version"),
    "channel": ("channel",),
    "provider": ("provider",),
    "channel_provider": ("channel", "provider"),
}


def level_of(dimensions: Iterable[str]) -> str | None:
    """The level that keeps exactly `dimensions` (what a query filters and groups by); None:
    only the combinations' rows have them."""
    wanted = frozenset(dimensions)
    return next((name for name, kept in LEVELS.items() if frozenset(kept) == wanted), None)


class _Level:
    """A level's row: the level's name, then the same dimensions ("" where the level drops one).
    Keyed by the level before the bucket, so that a level's period is one range of its key; a
    filter by template reads its rows through (app_id, level, template, bucket)."""

    __tablename__: Any
    bucket: ClassVar[str]  # the bucket's column, named by each table
    level: Mapped[str] = mapped_column(String(16), primary_key=True)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            PrimaryKeyConstraint("app_id", "level", cls.bucket, *DIMENSIONS),
            Index(f"ix_{cls.__tablename__}_template", "app_id", "level", "template", cls.bucket),
        )


class HourlyLevel(_Counters, _Level, _Dimensions, Base):
    __tablename__ = "analytics_hourly_levels"
    bucket = "hour"

    app_id: Mapped[uuid.UUID] = _app()
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)


class DailyLevel(_Counters, _Level, _Dimensions, Base):
    __tablename__ = "analytics_daily_levels"
    bucket = "day"

    app_id: Mapped[uuid.UUID] = _app()
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class MonthlyLevel(_Counters, _Level, _Dimensions, Base):
    __tablename__ = "analytics_monthly_levels"
    bucket = "month"

    app_id: Mapped[uuid.UUID] = _app()
    month: Mapped[date] = mapped_column(Date, primary_key=True)


RollupModel = (
    type[HourlyRollup]
    | type[DailyRollup]
    | type[MonthlyRollup]
    | type[HourlyLevel]
    | type[DailyLevel]
    | type[MonthlyLevel]
)


class PendingIncrement(_Counters, Base):
    """Increments written by the delivery hot path, not yet added to the rollups.

    Every writer appends here, in the transaction that recorded its events: an insert that
    conflicts with no one. Adding straight to the rollups made every intake request and every
    recorder batch update the same few rows (one per app, template, channel and hour, in three
    tables), so concurrent writers queued on their locks and each update left a dead version
    for the next to step over; the delivery pipeline lost about a tenth of its throughput.
    A folder (`analytics.folding`) moves these rows into the three tables in batches, in one
    transaction each, so nothing is counted twice or lost; readers fold what is left first.
    """

    __tablename__ = "analytics_pending"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    # No index but the key's: each one would cost every insert, and the table stays small.
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    # The hour (UTC) the deliveries counted were accepted in; the day and month follow from it.
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    template: Mapped[str] = mapped_column(String(200))
    template_version: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
