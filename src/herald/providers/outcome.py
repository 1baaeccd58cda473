"""What a provider call can come to. Never a bool: a bool cannot tell retry from give-up.

Adapters map every documented provider answer to exactly one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Delivered:
    """The provider accepted the message; its id correlates later events."""

    provider_message_id: str | None
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """A transient failure: try again, no sooner than `retry_after` seconds if given."""

    code: str
    detail: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class PermanentFailure:
    """The provider refused this message for good; retrying cannot help."""

    code: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class DeadAddress:
    """The destination is gone (unregistered token, invalid number, unknown mailbox).

    The device or address is retired at once. `since` carries APNs' 410 timestamp: a token
    registered again after that moment is alive and must not be retired.
    """

    code: str
    detail: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class UnknownOutcome:
    """The request went out but no answer came back: it may or may not have been delivered."""

    code: str
    detail: str | None = None


Outcome = Delivered | RetryLater | PermanentFailure | DeadAddress | UnknownOutcome


def outcome_name(outcome: Outcome) -> str:
    """The short name stored in the attempts table."""
    return _NAMES[type(outcome)]


_NAMES: dict[type, str] = {
    Delivered: "delivered",
    RetryLater: "retry",
    PermanentFailure: "permanent",
    DeadAddress: "dead_address",
    UnknownOutcome: "unknown",
}


def truncate(text: str | bytes | None, limit: int = 1000) -> str | None:
    """Provider responses are kept for diagnosis, but bounded."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"
