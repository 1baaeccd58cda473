"""What the send path decided for one delivery, as the recorder will write it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from herald.events.repository import Target


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    provider: str
    outcome: str
    code: str | None
    detail: str | None
    started_at: datetime
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Retirement:
    """A dead destination: a device to deactivate, or an address to suppress."""

    reason: str
    device_id: uuid.UUID | None = None
    since: datetime | None = None
    channel: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    delivery_id: uuid.UUID
    app_id: uuid.UUID
    user_id: str | None
    owner: str
    state: str
    reason: str | None
    attempts_before: int
    available_at: datetime | None = None  # for a return to `queued`
    provider: str | None = None
    provider_message_id: str | None = None
    calls: tuple[AttemptRecord, ...] = ()
    retire: Retirement | None = None
    finished: bool = False
    # Calls whose outcome was unknown: the request went out and no answer came back.
    unknowns: int = 0
    # A send of an earlier lease whose worker stopped before recording it: written as an
    # attempt of its own ahead of `calls` (already counted in the delivery's `unknowns`).
    lost: AttemptRecord | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # The delivery as the event consumers (webhooks out, rollups) see it, provider included.
    target: Target | None = None
