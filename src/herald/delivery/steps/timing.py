"""How long a delivery waited for its first send: the queue lag an operator alerts on."""

from __future__ import annotations

from herald.delivery.sending import Sending, Stop
from herald.kit.metrics import ACCEPT_TO_SEND_SECONDS, child


class FirstSendWait:
    async def __call__(self, s: Sending) -> Stop | None:
        d, n = s.work.delivery, s.work.notification
        if d.attempts == 0 and d.replayed_at is None:  # a first send, not a retry or a replay
            due = max(n.created_at, n.send_at) if n.send_at else n.created_at
            child(ACCEPT_TO_SEND_SECONDS, d.channel).observe(max(0.0, (s.now - due).total_seconds()))
        return None
