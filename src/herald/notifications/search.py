"""What a search of the notification log asks for: the filters of the API's list, the console's
Activity page and its CSV export, as one value.

A time range is also read as a range of ids: ids are time-ordered (`kit.ids.uuid7`), so every
index that ends in the id serves "this app, these days, newest first" as one range scan that
stops after a page, instead of reading the whole range to sort it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# A notification's id and its created_at are read from one clock at the same instant
# (intake.build_plan); the id runs ahead only when over 4,096 ids share a millisecond. The id
# range is widened by this much either side, and created_at itself stays the exact test.
ID_CLOCK_SLACK = timedelta(minutes=1)
_MS_MAX = (1 << 48) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Search:
    """Every filter is optional; those given must all hold. The delivery filters (state,
    channel, provider) hold when any one delivery of the notification matches all of them."""

    user_id: str | None = None
    event_id: str | None = None
    template: str | None = None
    category: str | None = None
    state: str | None = None
    channel: str | None = None
    provider: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    @property
    def by_delivery(self) -> bool:
        return self.state is not None or self.channel is not None or self.provider is not None

    def id_range(self) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        """(lowest, above the highest) ids the time range can hold, None where it is open."""
        return _bound(self.created_after, -ID_CLOCK_SLACK), _bound(self.created_before, ID_CLOCK_SLACK)


def _bound(at: datetime | None, slack: timedelta) -> uuid.UUID | None:
    if at is None:
        return None
    try:
        return id_floor(at + slack)
    except OverflowError:  # past year 1 or 9999: that side is open
        return None


def id_floor(at: datetime) -> uuid.UUID:
    """The smallest time-ordered id made at or after `at` (clamped to what an id can hold)."""
    ms = int((at - _EPOCH) / timedelta(milliseconds=1))
    return uuid.UUID(int=min(max(ms, 0), _MS_MAX) << 80)
