"""The rollup tables: one row per app, template (and version), channel, provider and bucket.

Two granularities, both written by the same upsert: an hour (for hourly series and the
edges of a period) and a UTC day (a year of a busy app is 365 rows per combination, read in
milliseconds, where the hourly table would hold 24 times as many). A row is never scanned
from the event log: each counter only grows by the increments of new events.

`template` is "" for a notification with inline content, `provider` "" for what happened
before any provider had the delivery (accepted, failed or dead without a send), and
`template_version` "" until templates have versions: "" rather than NULL, as NULLs would
break the uniqueness of the key on both backends.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

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


def _counter() -> Mapped[int]:
    # 64-bit: an overflow would fail the transaction that records a delivery's events.
    return mapped_column(BigInteger, default=0)


class HourlyRollup(Base):
    __tablename__ = "analytics_hourly"

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    # The hour (UTC) the deliveries counted here were accepted in.
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    template: Mapped[str] = mapped_column(String(200), primary_key=True)
    template_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
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


class DailyRollup(Base):
    __tablename__ = "analytics_daily"

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    # The UTC day the deliveries counted here were accepted on.
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    template: Mapped[str] = mapped_column(String(200), primary_key=True)
    template_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
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
