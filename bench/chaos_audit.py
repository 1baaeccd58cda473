"""The chaos run's verdict: every accepted notification against the log and the device inboxes.

The log says what Herald believes (state, reason, attempts); the sandbox inbox says what
reached a device. A notification is lost when it was accepted and is neither in a final
state nor in any inbox. Other disagreements are reported too: a delivery marked delivered
that no device received ("phantom"), and one still in flight that a device already has.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.analytics.folding import Folder
from herald.analytics.models import HourlyRollup, PendingIncrement
from herald.apps.models import App
from herald.kit.db import make_engine
from herald.notifications.models import Attempt, Delivery, DeliveryState, Notification

PENDING = (DeliveryState.SCHEDULED, DeliveryState.QUEUED, DeliveryState.SENDING)
_DELIVERY_COLUMNS = (
    Delivery.id,
    Delivery.notification_id,
    Delivery.state,
    Delivery.reason,
    Delivery.channel,
    Delivery.platform,
    Delivery.attempts,
    Delivery.unknowns,
    Delivery.available_at,
    Delivery.lease_until,
    Delivery.lease_owner,
    Delivery.updated_at,
)
_ATTEMPT_COLUMNS = (
    Attempt.delivery_id,
    Attempt.number,
    Attempt.outcome,
    Attempt.provider,
    Attempt.code,
    Attempt.started_at,
    # An attempt that only asked the provider (after an unknown outcome) and found the message
    # delivered sent nothing again: pipeline.Pipeline._one marks it so.
    Attempt.detail.like("found delivered by lookup%").label("looked_up"),
    # Sent while an earlier outcome was unknown: after a timeout or dropped connection, or
    # after a takeover from a worker that died mid-send (pipeline.Pipeline._one notes it).
    Attempt.detail.like("resent after an unknown outcome%").label("resent"),
)


@dataclass
class Figures:
    backend: str
    n: int
    accepted: int = 0  # event_ids the API accepted (202 new or 200 duplicate)
    deliveries: int = 0
    once: int = 0  # delivered, and received exactly once
    dup_raw: int = 0  # delivered, received more than once
    dup_visible: int = 0  # ... and still shown more than once after the provider's collapse rules
    unknown_resends: int = 0  # deliveries sent again while an earlier send's outcome was unknown
    failed: int = 0
    skipped: int = 0
    dead: int = 0
    lost: int = 0  # accepted, in no final state and in no inbox (or not in the log at all)
    phantom: int = 0  # marked delivered, yet no device received it
    refused: int = 0  # taken by a provider that then reported it not delivered (by callback)
    in_flight_received: int = 0  # not final, but a device has it
    final_received: int = 0  # failed/skipped/dead, yet a device has it (an unknown outcome that did arrive)
    not_accepted: int = 0  # the driver gave up: never accepted, so not lost, but the run is not clean
    rejected: int = 0  # 4xx for an item: a bug in the driver or in Herald
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # state -> reason -> count
    # The provider callbacks (chaos_callbacks.CallbackAudit as JSON) and what is wrong with them.
    callbacks: dict[str, Any] = field(default_factory=dict)
    callback_problems: list[str] = field(default_factory=list)
    # The analytics rollups once every staged increment is folded, against the log (`rollups`).
    rollups: dict[str, int] = field(default_factory=dict)
    rollup_problems: list[str] = field(default_factory=list)
    lost_examples: list[str] = field(default_factory=list)
    attempts: int = 0
    kills: int = 0
    restarts: list[str] = field(default_factory=list)
    drive_wall: float = 0.0
    drain_wall: float = 0.0
    wall: float = 0.0

    def adds_up(self) -> bool:
        parts = self.once + self.dup_raw + self.refused + self.failed + self.skipped + self.dead
        return parts + self.lost + self.phantom + self.in_flight_received == self.deliveries

    def problems(self) -> list[str]:
        """Why the run is not clean; empty when it is."""
        out = []
        if self.lost:
            out.append(f"{self.lost} lost (e.g. {', '.join(self.lost_examples[:5])})")
        if self.phantom:
            out.append(f"{self.phantom} marked delivered but in no inbox")
        if self.in_flight_received:
            out.append(f"{self.in_flight_received} still in flight after the drain")
        if self.not_accepted or self.rejected:
            out.append(f"{self.not_accepted} never accepted, {self.rejected} rejected by the API")
        if self.accepted != self.deliveries:
            out.append(f"{self.accepted} accepted but {self.deliveries} deliveries (expected one each)")
        if not self.adds_up():
            out.append("the figures do not add up")
        if self.dup_raw > self.unknown_resends:
            # Every duplicate must come from a send Herald knew might be one: counted, not hidden.
            out.append(f"{self.dup_raw - self.unknown_resends} duplicates with no counted unknown-outcome resend")
        out += [f"callbacks: {p}" for p in self.callback_problems]
        return out + [f"rollups: {p}" for p in self.rollup_problems]

    def line(self) -> str:
        return (
            f"chaos backend={self.backend} n={self.n} accepted={self.accepted} once={self.once} "
            f"dup_raw={self.dup_raw} dup_visible={self.dup_visible} unknown_resends={self.unknown_resends} "
            f"refused={self.refused} "
            f"failed={self.failed} skipped={self.skipped} dead={self.dead} lost={self.lost} "
            f"phantom={self.phantom} kills={self.kills} restarts={','.join(self.restarts) or '-'} "
            f"wall={self.wall:.1f}s"
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def rollups(url: str, app_id: uuid.UUID) -> tuple[dict[str, int], list[str]]:
    """Fold what the killed and restarted processes staged, then hold the rollups to the log:
    one `accepted` per delivery, one `sent` per delivery a provider took (its final state
    `delivered`), and nothing left staged. Workers die between staging and folding, and
    folders between their delete and their commit: only exactly-once folding adds up."""
    engine = make_engine(url, pool_size=2)
    try:
        await Folder(engine, interval=0, batch=10_000).once()
        async with engine.connect() as conn:
            counted = (
                await conn.execute(
                    select(
                        func.coalesce(func.sum(HourlyRollup.accepted), 0),
                        func.coalesce(func.sum(HourlyRollup.sent), 0),
                    ).where(HourlyRollup.app_id == app_id)
                )
            ).one()
            logged = (
                await conn.execute(
                    select(func.count(), func.count().filter(Delivery.state == DeliveryState.DELIVERED)).where(
                        Delivery.app_id == app_id
                    )
                )
            ).one()
            staged = (await conn.execute(select(func.count()).select_from(PendingIncrement))).scalar_one()
    finally:
        await engine.dispose()
    figures = {
        "accepted": int(counted[0]),
        "sent": int(counted[1]),
        "deliveries": int(logged[0]),
        "delivered": int(logged[1]),
        "staged": int(staged),
    }
    problems = []
    if figures["accepted"] != figures["deliveries"]:
        problems.append(f"accepted {figures['accepted']} for {figures['deliveries']} deliveries")
    if figures["sent"] != figures["delivered"]:
        problems.append(f"sent {figures['sent']} for {figures['delivered']} delivered")
    if figures["staged"]:
        problems.append(f"{figures['staged']} increments still staged after the fold")
    return figures, problems


class Ledger:
    """Read access to the run's database, for the drain and the audit."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = make_engine(url, pool_size=2, readonly=True)
        self.app_id: uuid.UUID | None = None

    async def bind(self, key: str) -> None:
        async with self.engine.connect() as conn:
            self.app_id = (await conn.execute(select(App.id).where(App.key_id == key))).scalar_one()

    async def pending(self) -> int:
        async with self.engine.connect() as conn:
            stmt = select(func.count()).where(Delivery.app_id == self.app_id, Delivery.state.in_(PENDING))
            return int((await conn.execute(stmt)).scalar_one())

    async def rows(self) -> tuple[dict[str, uuid.UUID], list[Any], list[Any]]:
        async with self.engine.connect() as conn:
            events = (
                await conn.execute(
                    select(Notification.event_id, Notification.id).where(Notification.app_id == self.app_id)
                )
            ).all()
            deliveries = (await conn.execute(select(*_DELIVERY_COLUMNS).where(Delivery.app_id == self.app_id))).all()
            attempts = (await conn.execute(select(*_ATTEMPT_COLUMNS).where(Attempt.app_id == self.app_id))).all()
        return {e: i for e, i in events}, list(deliveries), list(attempts)

    async def close(self) -> None:
        await self.engine.dispose()


async def drain(
    ledger: Ledger,
    *,
    settle: float,
    stall: float,
    limit: float,
    on_empty: Callable[[], None],
    log: Callable[[str], None],
) -> bool:
    """Wait until nothing is pending for `settle` s; give up after `stall` s without progress or `limit` s."""
    t0 = time.monotonic()
    best, best_at, empty_since = None, t0, None
    while time.monotonic() - t0 < limit:
        left = await ledger.pending()
        now = time.monotonic()
        if best is None or left < best:
            best, best_at = left, now
        if left == 0:
            on_empty()
            empty_since = empty_since or now
            if now - empty_since >= settle:
                return True
        else:
            empty_since = None
        if now - best_at > stall:
            log(f"drain: no progress for {stall:.0f}s with {left} pending")
            return False
        await asyncio.sleep(0.5)
    log(f"drain: still pending after {limit:.0f}s")
    return False


def unknown_resends(attempts: Iterable[Any]) -> int:
    """Deliveries sent again while an earlier send's fate was unknown: each may be a duplicate.

    Herald notes such a send on its attempt row, whether the unknown came from the provider
    (a timeout, a dropped connection) or from a worker that died mid-send.
    """
    return len({a.delivery_id for a in attempts if a.resent})


def classify(
    figures: Figures,
    accepted: Iterable[str],
    events: dict[str, uuid.UUID],
    deliveries: list[Any],
    inbox: dict[str, list[int]],
    refused: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Fill the outcome figures from the log and the inbox summary (key -> [received, visible]).

    `refused`: deliveries a provider took and then reported not delivered by callback (an
    undelivered SMS, a bounce): in no inbox, yet not phantoms.
    """
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for eid in accepted:
        if eid not in events:
            figures.lost += 1
            figures.lost_examples.append(f"{eid} (accepted, not in the log)")
    figures.deliveries = len(deliveries)
    for d in deliveries:
        received, visible = inbox.get(d.id.hex, [0, 0])
        st, reason = DeliveryState(d.state), d.reason
        if st is DeliveryState.DELIVERED:
            if received == 0 and d.id.hex in refused:
                figures.refused += 1
            elif received == 0:
                figures.phantom += 1
            elif received == 1:
                figures.once += 1
            else:
                figures.dup_raw += 1
                figures.dup_visible += visible > 1
            continue
        if st.final:
            figures.final_received += received > 0
            reasons[st.value][reason or "-"] += 1
            setattr(figures, st.value, getattr(figures, st.value) + 1)
        elif received:
            figures.in_flight_received += 1
        else:
            figures.lost += 1
            figures.lost_examples.append(f"{d.id.hex} ({d.channel}/{d.platform or '-'} {st.value}, reason {reason})")
    figures.reasons = {k: dict(v) for k, v in reasons.items()}


def postmortem(deliveries: list[Any], attempts: list[Any], inbox: dict[str, list[int]], limit: int = 200) -> list[Any]:
    """The unfinished deliveries with their attempt logs, for a bug report."""
    unfinished = [d for d in deliveries if not DeliveryState(d.state).final][:limit]
    wanted = {d.id for d in unfinished}
    log: dict[uuid.UUID, list[list[str]]] = defaultdict(list)
    for a in attempts:
        if a.delivery_id in wanted:
            log[a.delivery_id].append([str(a.number), a.provider, a.outcome, str(a.code), a.started_at.isoformat()])
    return [
        {
            **{k: (str(v) if v is not None else None) for k, v in d._mapping.items()},
            "inbox": inbox.get(d.id.hex, [0, 0]),
            "attempt_log": sorted(log[d.id], key=lambda row: int(row[0])),
        }
        for d in unfinished
    ]
