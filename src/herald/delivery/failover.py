"""Sending through the providers: the channel's routes in order, failing over on a transient
failure, each provider's circuit breaker honoured, every call timed and recorded.

An unknown outcome never fails over: the first provider may have delivered it, and a second
provider has no way to collapse the duplicate. A resend after an unknown outcome says so on
its attempt, and is counted as a possible duplicate where the provider cannot collapse it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from herald.channels.base import ChannelSpec, Sent
from herald.delivery.results import AttemptRecord
from herald.kit.clock import utcnow
from herald.kit.metrics import ATTEMPTS, SEND_SECONDS, UNKNOWN_RESENDS
from herald.providers.base import Adapter, kind_of
from herald.providers.outcome import Outcome, RetryLater, UnknownOutcome, outcome_name, truncate
from herald.providers.router import Router


class ProviderSender:
    """A channel's sender when its messages go out through providers (email, SMS, push)."""

    def __init__(self, router: Router, channel: ChannelSpec) -> None:
        self.router = router
        self.channel = channel

    async def send(self, app_id: uuid.UUID, message: Any, unknowns: int) -> Sent:
        candidates = await self.router.candidates(app_id, message, self.channel)
        calls: list[AttemptRecord] = []
        outcome: Outcome = RetryLater("no_provider", "no provider available for this message")
        name = candidates[0].name if candidates else "none"
        for adapter in candidates:
            # Asked only when this provider's turn comes: a half-open breaker hands out its one
            # probe here, and the probe must then really be sent (and its result recorded).
            breaker = self.router.breaker_for(app_id, adapter)
            if not breaker.allow():
                continue
            outcome, record = await _one(adapter, message, unknowns)
            calls.append(record)
            name = adapter.name
            breaker.record(not isinstance(outcome, RetryLater | UnknownOutcome))
            if not isinstance(outcome, RetryLater):
                return Sent(calls, outcome, name)
        if not calls and candidates:
            outcome = RetryLater("circuit_open", "every provider for this message is failing; waiting for a probe")
        return Sent(calls, outcome, name)

    async def close(self) -> None:
        return None  # the router owns the adapters


async def _one(adapter: Adapter, message: Any, unknowns: int) -> tuple[Outcome, AttemptRecord]:
    started, t0 = utcnow(), time.perf_counter()
    note = None
    if unknowns:
        UNKNOWN_RESENDS.labels(kind_of(adapter), str(adapter.collapses_duplicates).lower()).inc()
        note = "resent after an unknown outcome" + ("" if adapter.collapses_duplicates else "; may be a duplicate")
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
