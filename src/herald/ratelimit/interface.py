"""Per-user x channel send limits, shared by every worker of a deployment."""

from __future__ import annotations

from typing import Protocol


class RateLimiter(Protocol):
    async def acquire(self, key: str, limit: int, period: float) -> float | None:
        """Take one send from `key`'s allowance of `limit` per `period` seconds.

        Returns None if allowed, else the seconds until one would be; a refusal takes nothing.
        """

    async def close(self) -> None: ...
