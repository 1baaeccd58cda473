"""A notification's story as one ordered list, assembled from what the log keeps.

Nothing is written for the timeline: acceptance is the notification's `created_at`, queueing
and skips are the deliveries' own columns, each provider call is an attempt row, receipts and
engagement are `delivery_events`, and a dead letter's fate is its state, `finished_at` and
`replayed_at`. The log keeps a delivery's last replay only, so an earlier dead-lettering is
placed at the end of the last attempt before that replay, marked approximate.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from herald.activity.schemas import Step, TimelineItemOut
from herald.events.models import DeliveryEvent
from herald.kit.channels import Channel
from herald.notifications.models import Attempt, Delivery, DeliveryState, Notification

HERALD = "herald"
# At the same instant, Herald's steps come in the order they happen.
_RANK: dict[str, int] = {
    Step.ACCEPTED: 0,
    Step.SCHEDULED: 1,
    Step.QUEUED: 1,
    Step.SKIPPED: 2,
    Step.ATTEMPT: 2,
    Step.FAILED: 3,
    Step.DEAD_LETTERED: 3,
    Step.REPLAYED: 4,
}
_EVENT_RANK = 5


def build(
    n: Notification,
    deliveries: Sequence[Delivery],
    attempts: dict[uuid.UUID, list[Attempt]],
    events: Sequence[DeliveryEvent],
) -> list[TimelineItemOut]:
    """Every step and event, oldest first (ties: Herald's steps in their order, then events)."""
    items = [TimelineItemOut(at=n.created_at, kind=Step.ACCEPTED, source=HERALD)]
    channels = {d.id: Channel(d.channel) for d in deliveries}
    for d in deliveries:
        items.extend(_delivery(n, d, attempts.get(d.id, [])))
    items.extend(
        TimelineItemOut(
            at=e.occurred_at,
            kind=e.kind,
            source=e.source,
            delivery_id=e.delivery_id,
            channel=channels.get(e.delivery_id),
            code=e.code,
            detail=e.detail,
        )
        for e in events
    )
    # A stable sort: within one instant and rank, deliveries stay in their order.
    items.sort(key=lambda it: (it.at, _RANK.get(it.kind, _EVENT_RANK)))
    return items


def _delivery(n: Notification, d: Delivery, attempts: list[Attempt]) -> list[TimelineItemOut]:
    """One delivery's steps: queued (unless skipped at the intake), attempts, its fate."""
    out: list[TimelineItemOut] = []
    skipped_at_intake = d.state == DeliveryState.SKIPPED and not attempts and d.finished_at in (None, d.created_at)
    if not skipped_at_intake:
        if n.send_at is not None and n.send_at > n.created_at:
            out.append(_step(d, Step.SCHEDULED, d.created_at, detail=f"due {n.send_at.isoformat()}"))
        else:
            out.append(_step(d, Step.QUEUED, d.created_at))
    out.extend(
        _step(d, Step.ATTEMPT, a.started_at, provider=a.provider, code=a.code, detail=a.detail, attempt=a)
        for a in attempts
    )
    if d.replays and d.replayed_at is not None:
        before = [a for a in attempts if a.number <= d.retry_base]
        dead_at = min(_ended(before[-1]), d.replayed_at) if before else d.replayed_at
        out.append(_step(d, Step.DEAD_LETTERED, dead_at, approximate=True))
        times = "once" if d.replays == 1 else f"{d.replays} times (the log keeps the last)"
        out.append(_step(d, Step.REPLAYED, d.replayed_at, detail=f"replayed {times}"))
    final = d.finished_at or d.updated_at
    if d.state == DeliveryState.SKIPPED:
        out.append(_step(d, Step.SKIPPED, final, code=d.reason))
    elif d.state == DeliveryState.FAILED:
        out.append(_step(d, Step.FAILED, final, provider=d.provider, code=d.reason))
    elif d.state == DeliveryState.DEAD:
        out.append(_step(d, Step.DEAD_LETTERED, final, provider=d.provider, code=d.reason))
    return out


def _step(
    d: Delivery,
    kind: Step,
    at: datetime,
    *,
    provider: str | None = None,
    code: str | None = None,
    detail: str | None = None,
    attempt: Attempt | None = None,
    approximate: bool = False,
) -> TimelineItemOut:
    return TimelineItemOut(
        at=at,
        kind=kind,
        source=HERALD,
        delivery_id=d.id,
        channel=Channel(d.channel),
        provider=provider,
        code=code,
        detail=detail,
        attempt=attempt.number if attempt else None,
        outcome=attempt.outcome if attempt else None,
        duration_ms=attempt.duration_ms if attempt else None,
        approximate=approximate,
    )


def _ended(a: Attempt) -> datetime:
    return a.started_at + timedelta(milliseconds=a.duration_ms)
