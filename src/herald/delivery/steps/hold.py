"""A disabled app's delivery waits: back to `queued` without an attempt, until it is enabled."""

from __future__ import annotations

from herald.apps.holds import HOLD, REASON, Holds
from herald.delivery.sending import Defer, Sending, Stop

_HOLD = Defer(HOLD.total_seconds(), REASON)


class HeldApps:
    def __init__(self, holds: Holds) -> None:
        self.holds = holds

    async def __call__(self, s: Sending) -> Stop | None:
        return _HOLD if await self.holds.held(s.work.delivery.app_id) else None
