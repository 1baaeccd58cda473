"""The send path for a batch of claimed deliveries.

prepare: contacts from the cache, destinations, suppressions (one query per batch).
process: opt-out, rate limit, render, provider call(s) with failover, the resulting state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.apps.holds import HOLD, REASON, Holds
from herald.cache.interface import ContactCache
from herald.config import Settings
from herald.delivery import settle
from herald.delivery import work as work_repo
from herald.delivery.decide import Defer, Send, Skip, Target, decide, resolve
from herald.delivery.results import AttemptRecord, Result
from herald.delivery.work import Work
from herald.kit.clock import utcnow
from herald.kit.metrics import ACCEPT_TO_SEND_SECONDS, ATTEMPTS, SEND_SECONDS, UNKNOWN_RESENDS
from herald.providers.base import Adapter, kind_of
from herald.providers.messages import OutboundMessage
from herald.providers.outcome import Delivered, Outcome, RetryLater, UnknownOutcome, outcome_name, truncate
from herald.providers.router import Router
from herald.queue.interface import Job
from herald.ratelimit.interface import RateLimiter
from herald.recipients.card import ContactCard

# A disabled app's delivery goes back to `queued` without an attempt, until it is enabled.
_HOLD = Defer(HOLD.total_seconds(), REASON)


@dataclass(frozen=True, slots=True)
class Prepared:
    work: Work
    card: ContactCard | None
    target: Target | Skip


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        reads: AsyncEngine,
        cache: ContactCache,
        limiter: RateLimiter,
        router: Router,
        holds: Holds | None = None,
    ) -> None:
        self.settings = settings
        self.reads = reads
        self.cache = cache
        self.limiter = limiter
        self.router = router
        self.holds = holds

    async def prepare(self, jobs: Sequence[Job], owner: str) -> list[Prepared]:
        async with self.reads.connect() as conn:
            # A broker that leased and loaded in one statement handed the work over already.
            works = [j.work for j in jobs if j.work is not None]
            if len(works) < len(jobs):
                works += await work_repo.load(conn, [j.delivery_id for j in jobs if j.work is None], owner)
                # In claim order, oldest first: the first of two sends takes a rate limit's slot.
                order = {j.delivery_id: n for n, j in enumerate(jobs)}
                works.sort(key=lambda w: order[w.delivery.id])
            cards = await self.cache.get_many(
                [(w.delivery.app_id, w.notification.user_id) for w in works if w.notification.user_id]
            )
            prepared = []
            for w in works:
                uid = w.notification.user_id
                card = cards[(w.delivery.app_id, uid)] if uid else None
                prepared.append(Prepared(w, card, resolve(w, card)))
            pairs = {
                (p.work.delivery.app_id, p.work.delivery.channel, p.target.address)
                for p in prepared
                if isinstance(p.target, Target) and p.target.address
            }
            blocked = await work_repo.suppressed(conn, pairs)
        return [
            Prepared(p.work, p.card, Skip("suppressed"))
            if isinstance(p.target, Target)
            and (p.work.delivery.app_id, p.work.delivery.channel, p.target.address) in blocked
            else p
            for p in prepared
        ]

    async def process(self, p: Prepared, owner: str) -> Result:
        now = utcnow()
        if self.holds is not None and await self.holds.held(p.work.delivery.app_id):
            return settle.without_call(p.work, owner, _HOLD, now)
        if isinstance(p.target, Skip):
            return settle.without_call(p.work, owner, p.target, now)
        decision = await decide(p.work, p.card, p.target, self.limiter, self.settings)
        if not isinstance(decision, Send):
            return settle.without_call(p.work, owner, decision, now)
        d, n = p.work.delivery, p.work.notification
        if d.attempts == 0 and d.replayed_at is None:  # a first send: how long it waited
            due = max(n.created_at, n.send_at) if n.send_at else n.created_at
            ACCEPT_TO_SEND_SECONDS.labels(d.channel).observe(max(0.0, (now - due).total_seconds()))
        calls, outcome, provider = await self.call(d.app_id, decision.message, d.unknowns)
        policy = self.settings.retry_for(d.channel)
        return settle.after_calls(p.work, owner, calls, outcome, provider, p.target, policy, utcnow())

    async def call(
        self, app_id: uuid.UUID, message: OutboundMessage, unknowns: int = 0
    ) -> tuple[list[AttemptRecord], Outcome, str]:
        """Try providers in order; fail over to the next one on a transient failure.

        An unknown outcome never fails over: the first provider may have delivered, and a
        second provider has no way to collapse the duplicate. After an unknown outcome, a
        provider that can be asked (`lookup`) is asked before anything is resent.
        """
        candidates = await self.router.candidates(app_id, message)
        calls: list[AttemptRecord] = []
        outcome: Outcome = RetryLater("no_provider", "no provider available for this message")
        name = candidates[0].name if candidates else "none"
        for adapter in candidates:
            # Asked only when this provider's turn comes: a half-open breaker hands out its one
            # probe here, and the probe must then really be sent (and its result recorded).
            breaker = self.router.breaker_for(app_id, adapter)
            if not breaker.allow():
                continue
            outcome, record = await self._one(adapter, message, unknowns)
            calls.append(record)
            name = adapter.name
            breaker.record(not isinstance(outcome, RetryLater | UnknownOutcome))
            if not isinstance(outcome, RetryLater):
                return calls, outcome, name
        if not calls and candidates:
            outcome = RetryLater("circuit_open", "every provider for this message is failing; waiting for a probe")
        return calls, outcome, name

    async def _one(self, adapter: Adapter, message: OutboundMessage, unknowns: int) -> tuple[Outcome, AttemptRecord]:
        started, t0 = utcnow(), time.perf_counter()
        note = None
        lookup = getattr(adapter, "lookup", None)
        found = await lookup(message) if unknowns and lookup is not None else None
        if isinstance(found, Delivered):
            outcome: Outcome = found
            note = "found delivered by lookup after an unknown outcome; not resent"
        else:
            if unknowns:
                collapsing = bool(getattr(adapter, "collapses_duplicates", False))
                UNKNOWN_RESENDS.labels(kind_of(adapter), str(collapsing).lower()).inc()
                note = "resent after an unknown outcome" + ("" if collapsing else "; may be a duplicate")
            try:
                outcome = await adapter.send(message)
            except Exception as exc:  # an adapter bug must not lose the delivery
                outcome = UnknownOutcome("adapter_error", truncate(repr(exc)))
        elapsed = time.perf_counter() - t0
        name = outcome_name(outcome)
        ATTEMPTS.labels(kind_of(adapter), name).inc()
        SEND_SECONDS.labels(kind_of(adapter)).observe(elapsed)
        detail = getattr(outcome, "detail", None)
        if note:
            detail = f"{note}: {detail}" if detail else note
        return outcome, AttemptRecord(adapter.name, name, outcome.code, truncate(detail), started, int(elapsed * 1000))
