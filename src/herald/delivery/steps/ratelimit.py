"""Per user x channel send limits: a first attempt over the limit waits, or is skipped."""

from __future__ import annotations

from herald.config import Settings
from herald.delivery.sending import Defer, Sending, Skip, Stop
from herald.notifications.models import SkipReason
from herald.ratelimit.interface import RateLimiter


class RateLimit:
    def __init__(self, limiter: RateLimiter, settings: Settings) -> None:
        self.limiter = limiter
        self.settings = settings

    async def __call__(self, s: Sending) -> Stop | None:
        d, n = s.work.delivery, s.work.notification
        limit = self.settings.rate_limits.get(s.channel.name)
        # Only a first attempt is metered: a retry after a provider failure is the same message.
        if limit is None or n.critical or d.attempts:
            return None
        who = n.user_id or s.target.address or ""
        wait = await self.limiter.acquire(f"{d.app_id}:{who}:{d.channel}", limit.limit, limit.period.total_seconds())
        if wait is None:
            return None
        if self.settings.policy_for(n.category) == "skip":
            return Skip(SkipReason.RATE_LIMITED)
        return Defer(wait, SkipReason.RATE_LIMITED)
