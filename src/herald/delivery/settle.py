"""From a decision or a provider outcome to the delivery's next state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, assert_never

from herald.channels.base import Target
from herald.config import RetrySettings
from herald.delivery.results import AttemptRecord, Result, Retirement
from herald.delivery.retry import exhausted, next_delay
from herald.delivery.sending import Defer, Fail, Skip
from herald.delivery.work import Work
from herald.events.repository import Target as EventTarget
from herald.kit.clock import utcnow
from herald.notifications.models import DeliveryState
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
)
from herald.queue.lease import TAKEN_OVER

LOST_DETAIL = "outcome unknown: the worker stopped before recording this send; it may have reached the provider"


def lost_send(work: Work, now: datetime) -> AttemptRecord | None:
    """The attempt a stopped worker made and never recorded, if this claim took one over.

    Its provider and start are unknown (they died with the worker): the row says so, and its
    time is when the loss was found. Without it the attempt log showed only the resend.
    """
    if not work.delivery.taken_over:
        return None
    return AttemptRecord("unknown", "unknown", TAKEN_OVER, LOST_DETAIL, now, 0)


def _result(work: Work, owner: str, state: DeliveryState, reason: str | None, **extra: Any) -> Result:
    d, n = work.delivery, work.notification
    extra.setdefault("lost", lost_send(work, utcnow()))
    target = EventTarget.of(d, n, extra.get("provider"))
    return Result(
        delivery_id=d.id,
        app_id=d.app_id,
        user_id=work.notification.user_id,
        owner=owner,
        attempts_before=d.attempts,
        state=state,
        reason=reason,
        finished=state.final,
        target=target,
        **extra,
    )


def without_call(work: Work, owner: str, decision: Skip | Defer | Fail, now: datetime) -> Result:
    """A delivery settled before any provider was called."""
    match decision:
        case Skip(reason=reason):
            return _result(work, owner, DeliveryState.SKIPPED, reason)
        case Defer(seconds=seconds, reason=reason):
            return _result(work, owner, DeliveryState.QUEUED, reason, available_at=now + timedelta(seconds=seconds))
        case Fail(code=code):
            return _result(work, owner, DeliveryState.FAILED, code)
        case _:
            assert_never(decision)


def after_calls(
    work: Work,
    owner: str,
    calls: list[AttemptRecord],
    outcome: Outcome,
    provider: str,
    target: Target,
    policy: RetrySettings,
    now: datetime,
) -> Result:
    """Settle a delivery on the last provider's outcome."""

    def done(state: DeliveryState, reason: str | None, **extra: Any) -> Result:
        unknowns = sum(1 for c in calls if c.outcome == "unknown")
        return _result(work, owner, state, reason, calls=tuple(calls), provider=provider, unknowns=unknowns, **extra)

    if isinstance(outcome, Delivered):
        return done(DeliveryState.DELIVERED, None, provider_message_id=outcome.provider_message_id)
    if isinstance(outcome, PermanentFailure):
        return done(DeliveryState.FAILED, outcome.code)
    if isinstance(outcome, DeadAddress):
        d = work.delivery
        retire = Retirement(
            reason=f"{provider}:{outcome.code}",
            device_id=d.device_id,
            since=outcome.since,
            channel=None if d.device_id else d.channel,
            address=None if d.device_id else target.address,
        )
        return done(DeliveryState.FAILED, outcome.code, retire=retire)
    assert isinstance(outcome, RetryLater | UnknownOutcome)
    d = work.delivery
    made = d.attempts + d.taken_over + len(calls) - d.retry_base
    delay = next_delay(made, policy, outcome.retry_after if isinstance(outcome, RetryLater) else None)
    if exhausted(made, d.replayed_at or d.created_at, now, policy, delay):
        return done(DeliveryState.DEAD, outcome.code)
    return done(DeliveryState.QUEUED, outcome.code, available_at=now + timedelta(seconds=delay))
