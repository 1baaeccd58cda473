"""The retry ladder: attempt n waits base x factor^(n-1), jittered, never less than Retry-After."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from herald.config import RetrySettings


def next_delay(
    attempt: int, policy: RetrySettings, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds before attempt `attempt + 1`; `attempt` counts the calls made so far (>= 1)."""
    rng = rng or random.Random()
    raw = policy.base.total_seconds() * policy.factor ** max(0, attempt - 1)
    capped = min(raw, policy.cap.total_seconds())
    # Equal jitter: spreads a burst of failures out without ever retrying immediately.
    delay = capped / 2 + rng.uniform(0, capped / 2)
    return max(delay, retry_after or 0.0)


def exhausted(attempts: int, since: datetime, now: datetime, policy: RetrySettings, delay: float) -> bool:
    """Out of attempts, or the next try would land past the maximum age (both counted from
    creation, or from the last replay of a dead letter)."""
    if attempts >= policy.max_attempts:
        return True
    return now + timedelta(seconds=delay) - since > policy.max_age
