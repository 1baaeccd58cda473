"""After-commit follow-ups: a failing one never turns a committed write into an error."""

from __future__ import annotations

import asyncio

import pytest

from herald.kit import uow


async def test_a_failed_follow_up_is_retried_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uow, "_RETRY_DELAYS", (0.0, 0.0, 0.0))
    calls: list[int] = []

    async def invalidate() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("redis is restarting")

    await uow.run_after_commit([invalidate])  # does not raise: the write is committed
    assert calls == [1]
    await asyncio.gather(*list(uow._retrying))
    assert len(calls) == 3
