"""The kinds of delivery event, and the order in which a provider's verdicts supersede."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    ACCEPTED = "accepted"  # Herald took the notification
    SENT = "sent"  # a provider accepted the message
    DELIVERED = "delivered"  # the provider reports it reached the handset or the mailbox
    UNDELIVERED = "undelivered"  # the provider reports it could not be delivered
    BOUNCED = "bounced"  # email: the receiving server refused it (code: hard or soft)
    COMPLAINED = "complained"  # email: the recipient marked it as spam
    FAILED = "failed"  # Herald gave up on it (a permanent failure)
    DEAD = "dead"  # Herald's retries ran out
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"


# A provider's verdicts arrive late, retried and reordered: a delivery's outcome only ever
# moves up this ladder, so a late "sent" after "delivered" changes nothing. Verdicts of the
# same rank contradict each other; the first one recorded stands.
OUTCOME_RANK: dict[str, int] = {
    EventKind.SENT: 1,
    "soft_bounced": 2,  # may still be delivered: a retry by the provider
    EventKind.DELIVERED: 3,
    EventKind.UNDELIVERED: 3,
    EventKind.BOUNCED: 3,
    EventKind.COMPLAINED: 4,
}

# The recipient's own actions: counted per delivery (first, last, how many times).
ENGAGEMENT = frozenset({EventKind.OPENED, EventKind.CLICKED, EventKind.UNSUBSCRIBED})

SOFT = "soft"
HARD = "hard"


def outcome_of(kind: str, code: str | None) -> str | None:
    """The outcome this event stands for, if it is a provider's verdict."""
    if kind == EventKind.BOUNCED and code == SOFT:
        return "soft_bounced"
    return kind if kind in OUTCOME_RANK else None
