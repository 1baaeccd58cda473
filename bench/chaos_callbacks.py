"""The chaos run's provider callbacks: how the simulators post them, and the audit of what Herald made of them.

The Twilio, Vonage, SendGrid and Mailchimp simulators post their signed receipts to Herald's
`/v1/callbacks/{provider}` while the run's kills, engine restarts and provider faults go on,
through the sandbox's dispatcher: late, sometimes twice, out of order, sometimes never
(`PUT /_sandbox/{sim}/callbacks`). Each callback's fate is kept by the sandbox (`GET
/_sandbox/{sim}/callbacks`): answered 2xx, failed after every attempt, or dropped on purpose.

The audit reads those fates with its own reading of each provider's payload (not Herald's
receivers: a misreading there must not be repeated here) and checks, per delivery, that:
- its `outcome` is what the callbacks Herald answered 2xx imply under the ladder (the
  highest-ranked verdict; dropped callbacks never count): exact unless two contradicting
  verdicts share the top rank (two sends of one delivery), when either may stand;
- each provider event it answered 2xx is on the timeline exactly once, duplicates or not,
  and nothing else from the providers is;
- the suppressions are exactly the addresses of the dead verdicts (hard bounce, complaint,
  a carrier's "dead for good");
- no callback was given up on (every one was answered 2xx in the end, however many tries a
  killed or restarting Herald cost it).
Per provider it reports what was sent, duplicated, dropped, retried and recorded, and the
unknown outcomes the lookup resolved (attempt rows of code "lookup").
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from herald.events.models import DeliveryEvent
from herald.notifications.models import Attempt, Delivery
from herald.recipients.models import Suppression

PROVIDERS = ("twilio", "vonage", "sendgrid", "mailchimp")
CHANNEL = {"twilio": "sms", "vonage": "sms", "sendgrid": "email", "mailchimp": "email"}
# The outcome ladder, as the README states it: a soft bounce may still be delivered; the
# three verdicts rank alike; a complaint above them all.
RANK = {"soft_bounced": 2, "delivered": 3, "undelivered": 3, "bounced": 3, "complained": 4}
# What declares an address dead (README, Callbacks: Effects).
_TWILIO_DEAD = frozenset({"21211", "21610", "30005", "30006"})
_VONAGE_DEAD = frozenset({"3", "4", "9"})
_SENDGRID_DEAD_DROPS = frozenset({"Bounced Address", "Invalid", "Unsubscribed Address", "Spam Reporting Address"})
# Mailchimp's simulated faults that report later by webhook (hard_bounce is left out: it puts
# the address on the reject list, and a later send is then refused synchronously).
MAILCHIMP_LATE_FAULTS = {"soft_bounce": 0.02, "spam_complaint": 0.02, "deferral": 0.02}


@dataclass(frozen=True)
class CallbackFaults:
    """How the callbacks travel: the brief's 200 ms delay, 20% duplicates, 500 ms reordering,
    5% drops; enough attempts (0.5 s doubling: about 4 minutes) to outlast a killed Herald."""

    delay_ms: float = 200.0
    duplicate_rate: float = 0.2
    reorder_window_ms: float = 500.0
    drop_rate: float = 0.05
    attempts: int = 10
    retry_backoff_ms: float = 500.0

    def settings(self, seed: int) -> dict[str, Any]:
        return {**asdict(self), "seed": seed}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One provider event about one delivery, as the audit reads the simulator's payload."""

    provider: str
    key: str  # the delivery's id, hex
    kind: str  # the event kind Herald records: delivered, undelivered, bounced, complained
    outcome: str  # the rung of the ladder: kind, or soft_bounced
    ident: str  # the provider's own identity of the event: duplicates share it
    address: str | None
    dead: bool


def verdicts(provider: str, record: Mapping[str, Any]) -> list[Verdict]:
    """The verdicts one callback carries (intermediate statuses carry none)."""
    payload = record.get("payload")
    if provider == "twilio":
        return _twilio(record, payload if isinstance(payload, dict) else {})
    if provider == "vonage":
        return _vonage(payload if isinstance(payload, dict) else {})
    if provider == "sendgrid":
        return [v for e in (payload if isinstance(payload, list) else []) if (v := _sendgrid(e)) is not None]
    if provider == "mailchimp":
        raw = payload.get("mandrill_events", "[]") if isinstance(payload, dict) else "[]"
        return [v for e in orjson.loads(raw) if (v := _mailchimp(e)) is not None]
    raise ValueError(provider)


def _twilio(record: Mapping[str, Any], form: Mapping[str, str]) -> list[Verdict]:
    status, code, key = form.get("MessageStatus", ""), form.get("ErrorCode") or "", record.get("key")
    if status not in ("delivered", "undelivered", "failed") or not key:
        return []
    kind = "delivered" if status == "delivered" else "undelivered"
    ident = f"{form.get('MessageSid')}:{status}:{code}"
    return [Verdict("twilio", key, kind, kind, ident, form.get("To"), code in _TWILIO_DEAD)]


def _vonage(p: Mapping[str, str]) -> list[Verdict]:
    status, err, key = (p.get("status") or "").lower(), p.get("err-code") or "0", p.get("client-ref")
    if status in ("accepted", "buffered", "unknown", "") or not key:
        return []
    kind = "delivered" if status == "delivered" else "undelivered"
    ident = f"{p.get('messageId')}:{status}:{err}"
    return [Verdict("vonage", key, kind, kind, ident, "+" + p.get("msisdn", ""), err in _VONAGE_DEAD)]


def _sendgrid(e: Any) -> Verdict | None:
    if not isinstance(e, dict) or not e.get("herald_key"):
        return None
    name, ident, email = e.get("event"), str(e.get("sg_event_id")), e.get("email")
    if name == "delivered":
        kind, outcome, dead = "delivered", "delivered", False
    elif name == "bounce":
        soft = e.get("type") == "blocked"
        kind, outcome, dead = "bounced", "soft_bounced" if soft else "bounced", not soft
    elif name == "dropped":
        kind, outcome, dead = "undelivered", "undelivered", e.get("reason") in _SENDGRID_DEAD_DROPS
    elif name == "spamreport":
        kind, outcome, dead = "complained", "complained", True
    else:
        return None
    return Verdict("sendgrid", str(e["herald_key"]), kind, outcome, ident, email, dead)


def _mailchimp(e: Any) -> Verdict | None:
    msg = e.get("msg") if isinstance(e, dict) else None
    key = (msg.get("metadata") or {}).get("herald_key") if isinstance(msg, dict) else None
    if not key:
        return None
    assert isinstance(msg, dict)
    table = {
        "send": ("delivered", "delivered", False),
        "hard_bounce": ("bounced", "bounced", True),
        "soft_bounce": ("bounced", "soft_bounced", False),
        "spam": ("complained", "complained", True),
        "unsub": ("unsubscribed", "", True),
        "reject": ("undelivered", "undelivered", False),
    }
    found = table.get(str(e.get("event")))
    if found is None:
        return None
    kind, outcome, dead = found
    return Verdict("mailchimp", str(key), kind, outcome, str(e.get("_id")), msg.get("email"), dead)


async def fetch_records(client: httpx.AsyncClient, sim: str, page: int = 5000) -> list[dict[str, Any]]:
    """Every callback the simulator planned, in submission order (paged by `since`)."""
    out: list[dict[str, Any]] = []
    since = 0
    while True:
        resp = await client.get(f"/_sandbox/{sim}/callbacks", params={"since": since, "limit": page})
        resp.raise_for_status()
        rows: list[dict[str, Any]] = resp.json()["callbacks"]
        out += rows
        if len(rows) < page:
            return out
        since = int(rows[-1]["seq"])


@dataclass
class ProviderFigures:
    sent: int = 0  # callbacks posted (each copy of a duplicate counts)
    duplicated: int = 0  # second copies
    dropped: int = 0  # never posted, on purpose
    answered: int = 0  # posted and answered 2xx in the end
    retried: int = 0  # answered 2xx only after a failed try (Herald killed, restarting, 5xx)
    given_up: int = 0  # every try failed
    verdicts: int = 0  # distinct provider verdicts answered 2xx
    recorded: int = 0  # timeline rows from this provider
    lookups_found: int = 0  # unknown outcomes the lookup settled (attempts of code "lookup")


@dataclass
class CallbackAudit:
    providers: dict[str, ProviderFigures] = field(default_factory=dict)
    deliveries_with_verdicts: int = 0
    outcome_checked: int = 0
    outcome_wrong: int = 0
    ties: int = 0  # two contradicting verdicts of the top rank (either may stand)
    verdict_but_none: int = 0  # verdicts answered 2xx, yet no outcome (a subset of outcome_wrong)
    outcome_without_verdict: int = 0  # an outcome no 2xx callback supports
    timeline_missing: int = 0
    timeline_extra: int = 0
    suppressions_expected: int = 0
    suppressions_missing: int = 0
    suppressions_extra: int = 0
    examples: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = []
        given_up = sum(p.given_up for p in self.providers.values())
        if given_up:
            out.append(f"{given_up} callbacks answered non-2xx on every try")
        if self.outcome_wrong or self.outcome_without_verdict:
            out.append(
                f"{self.outcome_wrong} outcomes differ from their callbacks' verdicts, "
                f"{self.outcome_without_verdict} outcomes with no callback behind them"
            )
        if self.timeline_missing or self.timeline_extra:
            out.append(f"timeline: {self.timeline_missing} events missing, {self.timeline_extra} extra")
        if self.suppressions_missing or self.suppressions_extra:
            out.append(f"suppressions: {self.suppressions_missing} missing, {self.suppressions_extra} extra")
        if out and self.examples:
            out.append("e.g. " + "; ".join(self.examples[:5]))
        return out

    def line(self) -> str:
        parts = [
            f"{name}: sent={p.sent} dup={p.duplicated} dropped={p.dropped} retried={p.retried} "
            f"recorded={p.recorded} lookups_found={p.lookups_found}"
            for name, p in self.providers.items()
        ]
        return "callbacks " + " | ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Planned:
    """What the simulators said about one delivery: every verdict planned, and those answered 2xx."""

    planned: list[Verdict] = field(default_factory=list)
    answered: dict[tuple[str, str], Verdict] = field(default_factory=dict)  # (provider, ident) -> verdict


def tally(records: Mapping[str, list[dict[str, Any]]], audit: CallbackAudit) -> dict[str, Planned]:
    """Per delivery key, the verdicts; fills each provider's callback counts."""
    per: dict[str, Planned] = defaultdict(Planned)
    for provider, rows in records.items():
        f = audit.providers.setdefault(provider, ProviderFigures())
        idents: set[str] = set()
        for r in rows:
            f.duplicated += bool(r["duplicate"])
            if r["outcome"] == "dropped":
                f.dropped += 1
            else:
                f.sent += 1
            if r["outcome"] == "failed":
                f.given_up += 1
            read = verdicts(provider, r)
            for v in read:
                per[v.key].planned.append(v)
            if r["outcome"] != "delivered":
                continue
            f.answered += 1
            f.retried += int(r["attempts"]) > 1
            for v in read:
                per[v.key].answered[(provider, v.ident)] = v
                idents.add(v.ident)
        f.verdicts = len(idents)
    return per


def refused(per: Mapping[str, Planned]) -> set[str]:
    """Deliveries a provider took but reported not delivered (planned, sent or not): no
    inbox has them, and that is the provider's verdict, not a phantom."""
    return {key for key, p in per.items() if any(v.kind != "delivered" for v in p.planned)}


async def audit(
    ledger: Any, sandbox_url: str, faults: CallbackFaults, *, timeout: float = 900.0
) -> tuple[CallbackAudit, set[str]]:
    """Drain every simulator's callbacks, then compare them with Herald's log.

    `ledger` is the run's `chaos_audit.Ledger` (read-only engine and app id). Returns the
    audit and the deliveries the providers refused (for the inbox comparison).
    """
    del faults  # the figures are what happened, not what was asked for
    result = CallbackAudit()
    records: dict[str, list[dict[str, Any]]] = {}
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=timeout) as client:
        for sim in PROVIDERS:
            (await client.post(f"/_sandbox/{sim}/callbacks/drain")).raise_for_status()
        for sim in PROVIDERS:
            records[sim] = await fetch_records(client, sim)
    per = tally(records, result)
    async with ledger.engine.connect() as conn:
        app = ledger.app_id
        outcomes = (await conn.execute(select(Delivery.id, Delivery.outcome).where(Delivery.app_id == app))).all()
        events = (
            await conn.execute(
                select(DeliveryEvent.delivery_id, DeliveryEvent.source, DeliveryEvent.kind).where(
                    DeliveryEvent.app_id == app, DeliveryEvent.source.in_(PROVIDERS)
                )
            )
        ).all()
        suppressed = (
            await conn.execute(select(Suppression.channel, Suppression.address).where(Suppression.app_id == app))
        ).all()
        lookups = (
            await conn.execute(
                select(Attempt.provider, func.count())
                .where(Attempt.app_id == app, Attempt.code == "lookup")
                .group_by(Attempt.provider)
            )
        ).all()
    for provider, n in lookups:
        result.providers.setdefault(str(provider), ProviderFigures()).lookups_found = int(n)
    _check_outcomes(result, per, {d.hex: o for d, o in outcomes})
    _check_timeline(result, per, events)
    _check_suppressions(result, per, {(str(c), str(a)) for c, a in suppressed})
    return result, refused(per)


def _check_outcomes(result: CallbackAudit, per: Mapping[str, Planned], outcomes: Mapping[str, str | None]) -> None:
    for key, outcome in outcomes.items():
        p = per.get(key)
        answered = list(p.answered.values()) if p else []
        ladder = [v for v in answered if v.outcome]
        if not ladder:
            if outcome not in (None, "sent"):
                result.outcome_without_verdict += 1
                result.examples.append(f"{key}: outcome {outcome} with no verdict answered 2xx")
            continue
        result.deliveries_with_verdicts += 1
        result.outcome_checked += 1
        top = max(RANK[v.outcome] for v in ladder)
        allowed = {v.outcome for v in ladder if RANK[v.outcome] == top}
        result.ties += len(allowed) > 1
        if outcome not in allowed:
            result.outcome_wrong += 1
            result.verdict_but_none += outcome is None
            result.examples.append(f"{key}: outcome {outcome}, callbacks say {sorted(allowed)}")


def _check_timeline(result: CallbackAudit, per: Mapping[str, Planned], events: Iterable[Any]) -> None:
    """Each (delivery, provider event) answered 2xx: one timeline row of its kind, no more."""
    actual: Counter[tuple[str, str, str]] = Counter()
    for delivery_id, source, kind in events:
        hexkey = delivery_id.hex if isinstance(delivery_id, uuid.UUID) else uuid.UUID(str(delivery_id)).hex
        actual[(hexkey, str(source), str(kind))] += 1
        f = result.providers.setdefault(str(source), ProviderFigures())
        f.recorded += 1
    expected: Counter[tuple[str, str, str]] = Counter()
    for key, p in per.items():
        for (provider, _), v in p.answered.items():
            expected[(key, provider, v.kind)] += 1
    for k in expected.keys() | actual.keys():
        diff = actual[k] - expected[k]
        if diff > 0:
            result.timeline_extra += diff
            result.examples.append(f"{k[0]}: {diff} extra {k[1]} {k[2]} on the timeline")
        elif diff < 0:
            result.timeline_missing -= diff
            result.examples.append(f"{k[0]}: {-diff} {k[1]} {k[2]} answered 2xx, not on the timeline")


def _check_suppressions(result: CallbackAudit, per: Mapping[str, Planned], actual: set[tuple[str, str]]) -> None:
    expected = {
        (CHANNEL[v.provider], v.address) for p in per.values() for v in p.answered.values() if v.dead and v.address
    }
    result.suppressions_expected = len(expected)
    missing, extra = expected - actual, actual - expected
    result.suppressions_missing, result.suppressions_extra = len(missing), len(extra)
    result.examples += [f"{a} ({c}) dead, not suppressed" for c, a in sorted(missing)[:3]]
    result.examples += [f"{a} ({c}) suppressed, no dead verdict" for c, a in sorted(extra)[:3]]
