"""A user's opt-outs, judged at send time so that a change made after acceptance counts."""

from __future__ import annotations

from herald.delivery.sending import Sending, Skip, Stop
from herald.notifications.models import SkipReason
from herald.preferences.rules import allows

_OPTED_OUT = Skip(SkipReason.OPTED_OUT)


class OptOut:
    async def __call__(self, s: Sending) -> Stop | None:
        n = s.work.notification
        if s.card is None or n.critical:
            return None
        return None if allows(s.card.preferences, s.work.delivery.channel, n.category) else _OPTED_OUT
