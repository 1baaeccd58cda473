"""One delivery on its way through the send path, and what a step of it may decide.

The send path is a chain of small steps (`delivery.steps`), each with one job: a held app,
an opt-out, a rate limit, rendering, timing. Each either lets the delivery go on or settles
it without a provider call (`Skip`, `Defer`, `Fail`). A new rule (tracking, quiet hours, a
cap) is one more step in the chain, not an edit of the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from herald.channels.base import ChannelSpec, Target
from herald.delivery.work import Work
from herald.recipients.card import ContactCard


@dataclass(frozen=True, slots=True)
class Skip:
    """Not sent, for good: a reason (opted out, suppressed, no address...)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Defer:
    """Not now: back to `queued` for `seconds`, without counting an attempt."""

    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Fail:
    """Cannot be sent as it is (a render broke a limit): failed, without a provider call."""

    code: str
    detail: str


Stop = Skip | Defer | Fail


@dataclass(slots=True)
class Sending:
    """A delivery between its claim and its provider call; steps fill in what they decide."""

    work: Work
    card: ContactCard | None
    channel: ChannelSpec
    target: Target
    now: datetime
    # Why it cannot go anywhere, as prepare found (no address, a retired device, suppressed).
    unreachable: Skip | None = None
    content: dict[str, Any] | None = None
    message: Any = None  # the channel's composed message, once rendered
    # Template variables a step before the render provides (the unsubscribe link).
    variables: dict[str, Any] = field(default_factory=dict)


class Step(Protocol):
    """One rule of the send path: None to go on, or how the delivery settles without a call."""

    async def __call__(self, s: Sending) -> Stop | None: ...
