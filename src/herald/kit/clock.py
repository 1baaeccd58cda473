"""Timezone-aware time only: a naive datetime is a bug waiting for a DST change."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, always aware, always UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Databases such as SQLite hand back naive datetimes; we stored UTC, so say so."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
