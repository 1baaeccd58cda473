"""What the worker processes publish for the API and the console to read.

Breakers and throughput live in each worker's memory, in processes the API cannot ask: each
process (a `reporter`) writes its own rows, overwriting them every few seconds, and a reader
merges the live ones. One writer per row, so no write ever contends with another process's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.db import Base, UtcDateTime


class ProviderBeat(Base):
    """One process's view of one provider's breaker: its state, and its calls in the window."""

    __tablename__ = "monitor_provider_beats"

    reporter: Mapped[str] = mapped_column(String(96), primary_key=True)
    # "" for a deployment-wide provider; an app's id (hex) for that app's own account.
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    calls: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ChannelMinute(Base):
    """One process's deliveries sent in one minute on one channel, with their latencies."""

    __tablename__ = "monitor_channel_minutes"
    __table_args__ = (Index("ix_monitor_channel_minutes_minute", "minute"),)

    reporter: Mapped[str] = mapped_column(String(96), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    sent: Mapped[int] = mapped_column(Integer)
    # Counts per bucket of accept-to-sent seconds (`monitoring.latency.EDGES`, then +Inf).
    latency: Mapped[list[int]] = mapped_column(JSON)
