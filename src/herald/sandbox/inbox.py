"""The device inbox: every message every simulator accepted, per destination.

Duplicates are kept, never hidden: that is how a test or the chaos run sees whether a retry
reached a user twice. `visible()` then applies the provider's own collapse/replace rule
(APNs `apns-collapse-id`, FCM `collapse_key`, web push `Topic`), which is what the person
holding the device would actually see.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from typing import Any

# When the request being handled reached its simulator, before the injected latency: the
# moment the provider has the message. Set per request by `Faults.delay`, which every
# simulator calls first; stamping it after the latency instead, and subtracting the nominal
# latency, counted a busy simulator's late timers as the sender's latency.
_arrival: ContextVar[float | None] = ContextVar("arrival", default=None)


def mark_arrival(at: float | None = None) -> None:
    _arrival.set(at if at is not None else time.time())


def _arrived_at() -> float:
    at = _arrival.get()
    return at if at is not None else time.time()


@dataclass(frozen=True, slots=True)
class InboxEntry:
    provider: str  # apns | fcm | webpush | twilio | vonage | sendgrid | smtp
    destination: str  # device token, endpoint, E.164 number or email address
    message_id: str  # the id the simulator answered with
    key: str | None  # Herald's key, as found in the protocol's own slot
    collapse_key: str | None  # entries sharing one replace each other on the device
    headers: dict[str, str]
    body: Any
    received_at: float = field(default_factory=time.time)  # once accepted, after the latency
    arrived_at: float = field(default_factory=_arrived_at)
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Inbox:
    """Thread-safe, because the SMTP sandbox runs its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[InboxEntry] = []
        self._by_dest: dict[str, list[InboxEntry]] = defaultdict(list)
        self._seq = itertools.count(1)
        # Bodies computed on first read (seq -> how), and those already read (seq -> body).
        self._pending: dict[int, Callable[[], Any]] = {}
        self._bodies: dict[int, Any] = {}

    def record(self, entry: InboxEntry, *, body: Callable[[], Any] | None = None) -> InboxEntry:
        """Keep `entry`; with `body`, its body is computed when first read.

        The SMTP simulator parses a message's MIME parts only if someone looks: parsing at
        receipt cost more than the rest of the simulated session, and the simulators share
        the CPU with Herald in every benchmark.
        """
        with self._lock:
            stamped = replace(entry, seq=next(self._seq))
            self._entries.append(stamped)
            self._by_dest[stamped.destination].append(stamped)
            if body is not None:
                self._pending[stamped.seq] = body
            return stamped

    def entries(
        self, *, provider: str | None = None, destination: str | None = None, since_seq: int = 0
    ) -> list[InboxEntry]:
        with self._lock:
            pool = self._by_dest.get(destination, []) if destination else self._entries
            return [
                self._complete(e) for e in pool if (provider is None or e.provider == provider) and e.seq > since_seq
            ]

    def _complete(self, e: InboxEntry) -> InboxEntry:
        if e.seq in self._pending:
            self._bodies[e.seq] = self._pending.pop(e.seq)()
        return replace(e, body=self._bodies[e.seq]) if e.seq in self._bodies else e

    def visible(self, destination: str) -> list[InboxEntry]:
        """What the device shows: a later entry with the same collapse key replaces an earlier."""
        shown: dict[object, InboxEntry] = {}
        for e in self.entries(destination=destination):
            shown[(e.provider, e.collapse_key) if e.collapse_key else e.seq] = e
        return sorted(shown.values(), key=lambda e: e.seq)

    def count_by_key(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = defaultdict(int)
            for e in self._entries:
                if e.key:
                    counts[e.key] += 1
            return dict(counts)

    def summary(self) -> dict[str, list[int]]:
        """Per Herald key: [messages received, messages still visible after collapse rules]."""
        with self._lock:
            entries = list(self._entries)
        shown: dict[object, InboxEntry] = {}
        for e in entries:
            shown[(e.provider, e.destination, e.collapse_key) if e.collapse_key else e.seq] = e
        out: dict[str, list[int]] = {}
        for e in entries:
            if e.key:
                out.setdefault(e.key, [0, 0])[0] += 1
        for e in shown.values():
            if e.key:
                out[e.key][1] += 1
        return out

    def timestamps(self, since_seq: int = 0) -> list[tuple[int, str | None, str, float, float]]:
        """(seq, key, provider, received_at, arrived_at) for every entry after `since_seq`:
        cheap to ship."""
        with self._lock:
            return [(e.seq, e.key, e.provider, e.received_at, e.arrived_at) for e in self._entries if e.seq > since_seq]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_dest.clear()
            self._pending.clear()
            self._bodies.clear()


def summary(provider: str, body: Any) -> tuple[str, str]:
    """(subject or title, text) of a message as its provider received it, for a person to
    read: each protocol puts them in its own slots (`herald sandbox inbox`, the inbox page)."""
    if not isinstance(body, dict):
        return "", "" if body is None else str(body)
    if provider == "apns":
        alert = (body.get("aps") or {}).get("alert")
        body = alert if isinstance(alert, dict) else {"body": alert}
    elif provider == "fcm":
        body = body.get("notification") or {}
    if provider == "sendgrid":
        parts = {p.get("type"): p.get("value") for p in body.get("content") or [] if isinstance(p, dict)}
        return str(body.get("subject") or ""), str(parts.get("text/plain") or parts.get("text/html") or "")
    title = body.get("subject") or body.get("title") or ""
    # SMTP and Mailchimp: text (else html); Twilio: Body; Vonage: text; push: body.
    text = body.get("text") or body.get("Body") or body.get("body") or body.get("html") or ""
    return str(title), str(text)
