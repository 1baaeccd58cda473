"""Sending through the providers: the channel's routes in order, failing over on a transient
failure, each provider's circuit breaker honoured, every call timed and recorded.

An unknown outcome never fails over: the first provider may have delivered it, and a second
provider has no way to collapse the duplicate. A resend after an unknown outcome says so on
its attempt, and is counted as a possible duplicate where the provider cannot collapse it.

Where the provider's API allows it (`providers.base.Lookup`: Mailchimp's message search,
Twilio's message list), a delivery with an earlier unknown outcome is looked up first: found,
it settles as delivered with an attempt of code "lookup" and nothing is resent; absent, it is
resent; a failed lookup resends as before (a possible duplicate, said on the attempt). A
failed lookup does not hold the delivery back: the lookup may fail for as long as the
provider does, and a resend is what Herald did before it had one.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from herald.channels.base import ChannelSpec, Sent
from herald.delivery.results import AttemptRecord
from herald.kit.clock import as_utc, utcnow
from herald.kit.metrics import ATTEMPTS, LOOKUPS, SEND_SECONDS, UNKNOWN_RESENDS, child
from herald.providers.base import Adapter, Lookup, kind_of, lookup_of
from herald.providers.outcome import Delivered, Outcome, RetryLater, UnknownOutcome, outcome_name, truncate
from herald.providers.router import Router


class ProviderSender:
    """A channel's sender when its messages go out through providers (email, SMS, push)."""

    def __init__(self, router: Router, channel: ChannelSpec) -> None:
        self.router = router
        self.channel = channel

    async def send(self, app_id: uuid.UUID, message: Any, unknowns: int, since: datetime | None = None) -> Sent:
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
            finder = lookup_of(adapter) if unknowns else None
            note = None
            if finder is not None:
                found, record, note = await _look_up(adapter, finder, message, since)
                if found is not None and record is not None:
                    calls.append(record)
                    breaker.record(True)
                    return Sent(calls, found, adapter.name)
            outcome, record = await _one(adapter, message, unknowns, note)
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


async def _look_up(
    adapter: Adapter, finder: Lookup, message: Any, since: datetime | None
) -> tuple[Delivered | None, AttemptRecord | None, str]:
    """Ask the provider for the message before a resend: (the outcome that settles the
    delivery and its attempt, if found; else None and the note the resend carries)."""
    started, t0 = utcnow(), time.perf_counter()
    try:
        answer = await finder.lookup(message, as_utc(since) if since else None)
    except Exception as exc:  # an adapter bug must not lose the delivery
        answer = UnknownOutcome("adapter_error", truncate(repr(exc)))
    kind = kind_of(adapter)
    if isinstance(answer, Delivered):
        LOOKUPS.labels(kind, "found").inc()
        ATTEMPTS.labels(kind, "delivered").inc()
        elapsed = time.perf_counter() - t0
        detail = truncate(f"not resent: the provider has it ({answer.detail or answer.provider_message_id})")
        found = Delivered(answer.provider_message_id, "lookup", detail)
        return found, AttemptRecord(adapter.name, "delivered", "lookup", detail, started, int(elapsed * 1000)), ""
    if answer is None:
        LOOKUPS.labels(kind, "absent").inc()
        return None, None, "resent after an unknown outcome; the provider had no record of it"
    LOOKUPS.labels(kind, "failed").inc()
    code = getattr(answer, "code", "unknown")
    return None, None, f"resent after an unknown outcome; the lookup failed ({code}); may be a duplicate"


async def _one(adapter: Adapter, message: Any, unknowns: int, note: str | None = None) -> tuple[Outcome, AttemptRecord]:
    started, t0 = utcnow(), time.perf_counter()
    if unknowns:
        UNKNOWN_RESENDS.labels(kind_of(adapter), str(adapter.collapses_duplicates).lower()).inc()
        duplicate = "" if adapter.collapses_duplicates else "; may be a duplicate"
        note = note or "resent after an unknown outcome" + duplicate
    try:
        outcome = await adapter.send(message)
    except Exception as exc:  # an adapter bug must not lose the delivery
        outcome = UnknownOutcome("adapter_error", truncate(repr(exc)))
    elapsed = time.perf_counter() - t0
    name = outcome_name(outcome)
    kind = kind_of(adapter)
    child(ATTEMPTS, kind, name).inc()
    child(SEND_SECONDS, kind).observe(elapsed)
    detail = getattr(outcome, "detail", None)
    if note:
        detail = f"{note}: {detail}" if detail else note
    return outcome, AttemptRecord(adapter.name, name, outcome.code, truncate(detail), started, int(elapsed * 1000))
