"""Fault injection shared by every simulator, set at run time over the control endpoint.

A simulator asks `draw()` once per request and acts out what it gets back, in its own
provider's words: an error code it knows, a throttle answer with Retry-After, or "accept,
then drop the connection before answering".
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from herald.sandbox.inbox import mark_arrival


class FaultSettings(BaseModel):
    """The JSON body of `PUT /_sandbox/{simulator}/faults`."""

    # Provider error code (as the simulator names it, e.g. "Unregistered", "21211", "5.1.1",
    # "UNAVAILABLE") -> probability per request.
    error_rates: dict[str, float] = Field(default_factory=dict)
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    # Probability that a request is accepted (recorded in the inbox) and the connection is
    # then dropped without an answer.
    drop_rate: float = 0.0
    # The next `throttle_count` requests are answered with the provider's 429 and this
    # Retry-After (seconds).
    throttle_count: int = 0
    throttle_retry_after: int = 1


@dataclass(frozen=True, slots=True)
class Draw:
    kind: Literal["ok", "error", "throttle", "drop"]
    code: str | None = None
    retry_after: int | None = None


@dataclass
class Faults:
    settings: FaultSettings = field(default_factory=FaultSettings)
    # Tokens, numbers or addresses revoked at run time: the simulator answers for them as
    # the provider does for a dead destination.
    revoked: set[str] = field(default_factory=set)
    _rng: random.Random = field(default_factory=random.Random)

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings

    def reset(self) -> None:
        self.settings = FaultSettings()
        self.revoked.clear()

    def draw(self) -> Draw:
        s = self.settings
        if s.throttle_count > 0:
            s.throttle_count -= 1
            return Draw("throttle", retry_after=s.throttle_retry_after)
        roll = self._rng.random()
        for code, rate in s.error_rates.items():
            if roll < rate:
                return Draw("error", code=code)
            roll -= rate
        if roll < s.drop_rate:
            return Draw("drop")
        return Draw("ok")

    async def delay(self, arrived_at: float | None = None) -> None:
        """A request has arrived (at `arrived_at`, if it was earlier than now): hold it for the
        injected latency. Every simulator calls this first, so it also stamps the arrival."""
        mark_arrival(arrived_at)
        s = self.settings
        if s.latency_ms or s.latency_jitter_ms:
            jitter = self._rng.uniform(-s.latency_jitter_ms, s.latency_jitter_ms)
            await asyncio.sleep(max(0.0, s.latency_ms + jitter) / 1000)

    def describe(self) -> dict[str, Any]:
        return {"settings": self.settings.model_dump(), "revoked": sorted(self.revoked)}
