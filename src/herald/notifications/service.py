"""Accepting notifications into the log, and reading them back.

The request owns the transaction: `accept` only flushes, and announces queued work to the
broker after the caller's commit, so nothing is queued that could still roll back (with an
outbox, its rows commit with the log and the publish follows the commit).
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from herald.analytics.consumer import Milestone, fold_arrays
from herald.cache.interface import ContactCache
from herald.events import repository as events_repository
from herald.events.kinds import EventKind
from herald.events.models import DeliveryEvent, Engagement
from herald.events.repository import Target
from herald.events.service import EventLog, Recorded, lifecycle
from herald.kit.channels import Channel
from herald.kit.errors import HeraldError, NotificationNotFound
from herald.kit.uow import UnitOfWork
from herald.notifications import repository
from herald.notifications.intake import NewDelivery, Plan, build_plan, content_of, prepare_templates, recipient_of
from herald.notifications.models import Attempt, Delivery, DeliveryState, Notification, NotificationRow
from herald.notifications.schemas import (
    AttemptOut,
    DeliveryOut,
    EngagementOut,
    EventOut,
    NotificationIn,
    NotificationOut,
)
from herald.notifications.search import Search
from herald.queue.announce import announce_written
from herald.queue.outbox import Outbox
from herald.queue.transport import Broker
from herald.recipients.card import ContactCard
from herald.templates.repository import live as live_templates
from herald.templates.responsive import settled

PLAN_SLICE_SECONDS = 0.005


@dataclass(frozen=True, slots=True)
class Accepted:
    """One item's result: created (202), a duplicate (200), or rejected with an error."""

    created: bool
    notification: NotificationOut | None = None
    error: HeraldError | None = None


def _plan_one(
    app_id: uuid.UUID,
    req: NotificationIn,
    users: dict[str, ContactCard | None],
    templates: dict[str, dict[str, Any]],
    versions: dict[str, int],
) -> Plan:
    recipient = recipient_of(req, users)
    channels, locales = content_of(req, templates)
    return build_plan(app_id, req, recipient, channels, locales, version=versions.get(req.template or ""))


async def accept_batch(
    uow: UnitOfWork,
    broker: Broker,
    outbox: Outbox | None,
    cards: ContactCache,
    app_id: uuid.UUID,
    reqs: list[NotificationIn],
    *,
    events: EventLog | None = None,
    fold: bool = False,
) -> list[Accepted]:
    """Plan every item, insert the new ones in bulk, and report each item's fate.

    Users' addresses and devices come from the same contact cards the workers send with
    (invalidated on every change to a user, a device or a preference), so a busy intake
    reads no user rows from the log.

    Duplicates are found by the insert itself (`ON CONFLICT DO NOTHING` on the event id), not
    by a lookup before it: the log is read back only for the items that did not go in (a
    repeat, a lost race, or a rejected item whose event id may already be in the log, which
    is answered as the duplicate it is).
    """
    user_ids = list(dict.fromkeys(r.user_id for r in reqs if r.user_id))
    # Contacts from the cache and templates from the log at once: two round trips, one wait.
    found, found_templates = await asyncio.gather(
        cards.get_many([(app_id, u) for u in user_ids]),
        live_templates(uow.session, {(app_id, r.template) for r in reqs if r.template}),
    )
    users = {u: found.get((app_id, u)) for u in user_ids}
    templates = {key: content for (_, key), (content, _) in found_templates.items()}
    versions = {key: version for (_, key), (_, version) in found_templates.items()}
    await prepare_templates(reqs, templates)

    outcomes: list[Plan | str | HeraldError] = []
    seen: set[str] = set()
    # An item's renders are bounded to a few ms of CPU, a batch of a thousand is not: the
    # event loop gets a turn whenever planning has held it that long.
    turn = time.perf_counter() + PLAN_SLICE_SECONDS
    for req in reqs:
        if req.event_id in seen:
            outcomes.append(req.event_id)
            continue
        try:
            # Planning renders; MJML not compiled yet is compiled in the compiler process first.
            outcomes.append(await settled(functools.partial(_plan_one, app_id, req, users, templates, versions)))
            seen.add(req.event_id)
        except HeraldError as exc:
            outcomes.append(exc)
        if time.perf_counter() > turn:
            await asyncio.sleep(0)
            turn = time.perf_counter() + PLAN_SLICE_SECONDS

    plans = [o for o in outcomes if isinstance(o, Plan)]
    # Folded (`EventLog.foldable`): every planned delivery's `accepted` is handed to the insert,
    # which counts those it inserted; nothing is published after it.
    folded = fold_arrays(_accepted(plans)) if fold else None
    written = await repository.insert_plans(uow.session, plans, outbox=broker.uses_outbox, fold=folded)
    inserted = written.notifications
    queued = [
        (d.id, d.channel)
        for p in plans
        if p.notification.id in inserted
        for d in p.deliveries
        if d.state == DeliveryState.QUEUED
    ]
    announce_written(uow, broker, outbox, queued, written.outbox_rows)
    if events is not None and not fold:
        await events.publish(await uow.session.connection(), accepted_events(plans, inserted))
    unsettled = {
        req.event_id
        for req, o in zip(reqs, outcomes, strict=True)
        if not (isinstance(o, Plan) and o.notification.id in inserted)
    }
    existing = await repository.by_event_ids(uow.session, app_id, unsettled)
    dup_deliveries = await repository.deliveries_of(uow.session, [n.id for n in existing.values()])

    results: list[Accepted] = []
    for req, o in zip(reqs, outcomes, strict=True):
        if isinstance(o, Plan) and o.notification.id in inserted:
            results.append(Accepted(True, present(o.notification, o.deliveries)))
        elif (n := existing.get(req.event_id)) is not None:
            results.append(Accepted(False, present(n, dup_deliveries.get(n.id, []))))
        elif isinstance(o, HeraldError):
            results.append(Accepted(False, error=o))
        else:  # pragma: no cover - a row that lost the insert race is in the log by now
            raise RuntimeError(f"notification {req.event_id!r} neither inserted nor found")
    return results


def _accepted(plans: Sequence[Plan]) -> Iterator[Milestone]:
    """Every planned delivery's `accepted`, for the statement to count those it inserts.

    Under the template version the plan stamped on the delivery (the live one the intake read
    and rendered with), which its later events read back from its row: all of them count
    under one version."""
    for p in plans:
        template = p.notification.template
        for d in p.deliveries:
            yield (d.id, d.app_id, d.created_at, template, d.template_version, d.channel, None, "accepted")


def accepted_events(plans: Sequence[Plan], inserted: Collection[uuid.UUID]) -> list[Recorded]:
    """Each new delivery's `accepted`, for the event consumers."""
    out = []
    for p in plans:
        n = p.notification
        if n.id not in inserted:
            continue
        for d in p.deliveries:
            target = Target.of(d, n, None)
            out.append(lifecycle(EventKind.ACCEPTED, target, d.created_at))
    return out


def status_of(deliveries: Sequence[Delivery | NewDelivery]) -> str:
    """One word for the whole notification, derived from its deliveries."""
    states = {d.state for d in deliveries}
    if not states:
        return "skipped"
    if DeliveryState.SCHEDULED in states:
        return "scheduled"
    if states & {DeliveryState.QUEUED, DeliveryState.SENDING}:
        return "processing"
    if DeliveryState.DELIVERED in states:
        return "delivered" if states == {DeliveryState.DELIVERED} else "partially_delivered"
    if states == {DeliveryState.SKIPPED}:
        return "skipped"
    return "failed"


@dataclass(frozen=True, slots=True)
class Timeline:
    """Each delivery's events and engagement summaries, for a notification's full view."""

    events: dict[uuid.UUID, list[DeliveryEvent]]
    engagement: dict[uuid.UUID, list[Engagement]]


def present(
    n: Notification | NotificationRow,
    deliveries: Sequence[Delivery | NewDelivery],
    attempts: dict[uuid.UUID, list[Attempt]] | None = None,
    timeline: Timeline | None = None,
) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        event_id=n.event_id,
        user_id=n.user_id,
        template=n.template,
        category=n.category,
        critical=n.critical,
        send_at=n.send_at,
        created_at=n.created_at,
        status=status_of(deliveries),
        deliveries=[
            DeliveryOut(
                id=d.id,
                channel=Channel(d.channel),
                platform=d.platform,
                device_id=d.device_id,
                state=d.state,
                reason=d.reason,
                attempts=d.attempts,
                provider=d.provider,
                provider_message_id=d.provider_message_id,
                available_at=d.available_at,
                finished_at=d.finished_at,
                outcome=getattr(d, "outcome", None),
                outcome_code=getattr(d, "outcome_code", None),
                outcome_at=getattr(d, "outcome_at", None),
                template_version=d.template_version,
                attempt_log=None
                if attempts is None
                else [AttemptOut.model_validate(a) for a in attempts.get(d.id, [])],
                events=None
                if timeline is None
                else [EventOut.model_validate(e) for e in timeline.events.get(d.id, [])],
                engagement=None
                if timeline is None
                else [EngagementOut.model_validate(e) for e in timeline.engagement.get(d.id, [])],
            )
            for d in deliveries
        ],
    )


async def get_notification(uow: UnitOfWork, app_id: uuid.UUID, notification_id: uuid.UUID) -> NotificationOut:
    n = await repository.get(uow.session, app_id, notification_id)
    if n is None:
        raise NotificationNotFound()
    deliveries = (await repository.deliveries_of(uow.session, [n.id]))[n.id]
    ids = [d.id for d in deliveries]
    attempts = await repository.attempts_of(uow.session, ids)
    timeline = Timeline(
        await events_repository.timeline(uow.session, ids), await events_repository.engagements(uow.session, ids)
    )
    return present(n, deliveries, attempts, timeline)


async def list_notifications(
    uow: UnitOfWork, app_id: uuid.UUID, search: Search, *, limit: int, cursor: uuid.UUID | None
) -> tuple[list[NotificationOut], uuid.UUID | None]:
    """A page of the search, newest first, and the cursor of the next page (None: the last)."""
    rows, more = await search_page(uow, app_id, search, limit=limit, cursor=cursor)
    deliveries = await repository.deliveries_of(uow.session, [n.id for n in rows])
    items = [present(n, deliveries[n.id]) for n in rows]
    return items, (rows[-1].id if more and rows else None)


async def search_page(
    uow: UnitOfWork, app_id: uuid.UUID, search: Search, *, limit: int, cursor: uuid.UUID | None
) -> tuple[list[Notification], bool]:
    """The notifications of a page, and whether there are more after it."""
    stmt = repository.page_query(app_id, search, before_id=cursor, limit=limit + 1)
    rows = list((await uow.session.scalars(stmt)).all())
    return rows[:limit], len(rows) > limit
