"""The send path for a batch of claimed deliveries.

prepare: the work (unless the claim loaded it), contacts from the cache, each delivery's
destination as of now, suppressions (one query per batch).
process: the chain of steps (`delivery.steps`: held apps, opt-outs, rate limits, rendering,
timing), then the channel's sender (providers with failover, or a sink), then the state the
outcome leads to. Which steps run, in which order, is the wiring's choice (runtime.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.cache.interface import ContactCache
from herald.channels.base import Sender, SenderDeps, Target
from herald.channels.registry import spec
from herald.config import Settings
from herald.delivery import settle
from herald.delivery import work as work_repo
from herald.delivery.claim import Job
from herald.delivery.failover import ProviderSender
from herald.delivery.results import Result
from herald.delivery.sending import Sending, Skip, Step
from herald.delivery.work import Work
from herald.kit.clock import utcnow
from herald.notifications.models import SkipReason
from herald.providers.router import Router
from herald.recipients.card import ContactCard, inline_card

_SUPPRESSED = Skip("suppressed")
_USER_DELETED = Skip(SkipReason.USER_DELETED)


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
        router: Router,
        steps: Sequence[Step],
        sinks: SenderDeps,
    ) -> None:
        self.settings = settings
        self.reads = reads
        self.cache = cache
        self.router = router
        self.steps = list(steps)
        self._sinks = sinks
        self._senders: dict[str, Sender] = {}

    def sender(self, channel: str) -> Sender:
        """The channel's sender: its own sink, or the providers; built on first use."""
        found = self._senders.get(channel)
        if found is None:
            definition = spec(channel)
            found = definition.sink(self._sinks) or ProviderSender(self.router, definition)
            self._senders[channel] = found
        return found

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
                prepared.append(Prepared(w, card, _resolve(w, card)))
            pairs = {
                (p.work.delivery.app_id, p.work.delivery.channel, p.target.address)
                for p in prepared
                if isinstance(p.target, Target) and p.target.address
            }
            blocked = await work_repo.suppressed(conn, pairs)
        return [
            Prepared(p.work, p.card, _SUPPRESSED)
            if isinstance(p.target, Target)
            and (p.work.delivery.app_id, p.work.delivery.channel, p.target.address) in blocked
            else p
            for p in prepared
        ]

    async def process(self, p: Prepared, owner: str) -> Result:
        d = p.work.delivery
        now = utcnow()
        target, unreachable = (p.target, None) if isinstance(p.target, Target) else (Target(None), p.target)
        s = Sending(p.work, p.card, spec(d.channel), target, now, unreachable)
        for step in self.steps:
            stop = await step(s)
            if stop is not None:
                return settle.without_call(p.work, owner, stop, now)
        sender = self.sender(d.channel)
        if isinstance(sender, ProviderSender):
            # Providers are looked up after an unknown outcome, for messages since the delivery's creation.
            sent = await sender.send(d.app_id, s.message, d.unknowns, since=d.created_at)
        else:
            sent = await sender.send(d.app_id, s.message, d.unknowns)
        policy = self.settings.retry_for(d.channel)
        return settle.after_calls(p.work, owner, sent.calls, sent.outcome, sent.provider, target, policy, utcnow())

    async def close(self) -> None:
        for sender in self._senders.values():
            await sender.close()


def _resolve(work: Work, card: ContactCard | None) -> Target | Skip:
    """Where this delivery goes now: the user's current address or still-active device, or
    the inline recipient's own."""
    d, n = work.delivery, work.notification
    if n.user_id is not None and card is None:
        return _USER_DELETED
    definition = spec(d.channel)
    target = definition.target(d.address, d.device_id, card if n.user_id is not None else inline_card(n.recipient))
    return target if target is not None else Skip(definition.address_skip)
