"""The chaos run's callback audit must be able to fail: fed records and log rows that disagree,
it finds each disagreement (a wrong outcome, a missing or doubled timeline row, a missing or
stray suppression, a callback given up on), and it counts no dropped callback."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from bench.chaos_callbacks import (
    CallbackAudit,
    _check_outcomes,
    _check_suppressions,
    _check_timeline,
    refused,
    tally,
    verdicts,
)

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
_seq = iter(range(1, 1000))


def _record(payload: Any, *, key: str | None = None, outcome: str = "delivered", dup: bool = False) -> dict[str, Any]:
    return {"seq": next(_seq), "outcome": outcome, "duplicate": dup, "attempts": 1, "key": key, "payload": payload}


def _twilio(d: uuid.UUID, status: str, code: str = "", **kw: Any) -> dict[str, Any]:
    form = {"MessageSid": f"SM{d.hex[:8]}", "MessageStatus": status, "To": "+14152030005"}
    if code:
        form["ErrorCode"] = code
    return _record(form, key=d.hex, **kw)


def _sendgrid(*events: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return _record(list(events), **kw)


def _sg(d: uuid.UUID, name: str, ident: str, **fields: Any) -> dict[str, Any]:
    return {"event": name, "sg_event_id": ident, "email": f"{name}@x.example", "herald_key": d.hex, **fields}


def _mailchimp(d: uuid.UUID, name: str, ident: str, **kw: Any) -> dict[str, Any]:
    msg = {"email": "m@x.example", "metadata": {"herald_key": d.hex}}
    return _record({"mandrill_events": orjson.dumps([{"event": name, "_id": ident, "msg": msg}]).decode()}, **kw)


def test_reading_each_provider() -> None:
    assert verdicts("twilio", _twilio(A, "sent")) == []
    (v,) = verdicts("twilio", _twilio(A, "undelivered", "30005"))
    assert (v.kind, v.outcome, v.dead, v.address) == ("undelivered", "undelivered", True, "+14152030005")
    vonage = {"client-ref": A.hex, "status": "failed", "err-code": "3", "messageId": "m1", "msisdn": "447700099003"}
    (v,) = verdicts("vonage", _record(vonage))
    assert (v.kind, v.dead, v.address) == ("undelivered", True, "+447700099003")
    assert verdicts("vonage", _record({**vonage, "status": "accepted"})) == []
    soft, hard = verdicts(
        "sendgrid",
        _sendgrid(
            _sg(A, "bounce", "e1", type="blocked"), _sg(B, "bounce", "e2", type="bounce"), _sg(C, "processed", "e3")
        ),
    )
    assert (soft.outcome, soft.dead, hard.outcome, hard.dead) == ("soft_bounced", False, "bounced", True)
    (v,) = verdicts("mailchimp", _mailchimp(A, "spam", "x1"))
    assert (v.kind, v.outcome, v.dead) == ("complained", "complained", True)


def test_outcomes_follow_the_ladder_and_ignore_dropped_callbacks() -> None:
    records = {
        "twilio": [
            _twilio(A, "delivered"),
            _twilio(A, "delivered", dup=True),  # a duplicate: one event
            _twilio(B, "undelivered", "30003", outcome="dropped"),  # never sent: no verdict
            _twilio(B, "delivered", outcome="failed"),  # given up on
        ],
        "sendgrid": [_sendgrid(_sg(C, "bounce", "s1", type="blocked")), _sendgrid(_sg(C, "delivered", "s2"))],
        "mailchimp": [_mailchimp(C, "spam", "c1")],
    }
    audit = CallbackAudit()
    per = tally(records, audit)
    tw = audit.providers["twilio"]
    assert (tw.sent, tw.duplicated, tw.dropped, tw.given_up, tw.answered, tw.verdicts) == (3, 1, 1, 1, 2, 1)
    assert refused(per) == {B.hex, C.hex}
    _check_outcomes(audit, per, {A.hex: "delivered", B.hex: None, C.hex: "complained"})
    assert (audit.outcome_wrong, audit.outcome_without_verdict, audit.outcome_checked) == (0, 0, 2)
    wrong = CallbackAudit()
    # B's only verdict was dropped: an outcome there has no callback behind it; C's complaint outranks.
    _check_outcomes(wrong, per, {A.hex: "sent", B.hex: "undelivered", C.hex: "delivered"})
    assert (wrong.outcome_wrong, wrong.outcome_without_verdict, wrong.verdict_but_none) == (2, 1, 0)
    assert len(wrong.problems()) >= 2


def test_a_tie_of_contradicting_verdicts_allows_either() -> None:
    audit = CallbackAudit()
    per = tally({"twilio": [_twilio(A, "delivered"), _twilio(A, "undelivered", "30003")]}, audit)
    _check_outcomes(audit, per, {A.hex: "undelivered"})
    assert (audit.ties, audit.outcome_wrong) == (1, 0)


def test_the_timeline_holds_each_answered_event_once() -> None:
    audit = CallbackAudit()
    per = tally({"twilio": [_twilio(A, "delivered"), _twilio(A, "delivered", dup=True)]}, audit)
    _check_timeline(audit, per, [(A, "twilio", "delivered")])
    assert (audit.timeline_missing, audit.timeline_extra, audit.providers["twilio"].recorded) == (0, 0, 1)
    doubled = CallbackAudit()
    _check_timeline(doubled, per, [(A, "twilio", "delivered"), (A, "twilio", "delivered"), (B, "vonage", "delivered")])
    assert (doubled.timeline_missing, doubled.timeline_extra) == (0, 2)
    missing = CallbackAudit()
    _check_timeline(missing, per, [])
    assert (missing.timeline_missing, missing.timeline_extra) == (1, 0)


def test_suppressions_are_exactly_the_answered_dead_verdicts() -> None:
    audit = CallbackAudit()
    records = {
        "twilio": [_twilio(A, "undelivered", "30005"), _twilio(B, "undelivered", "30006", outcome="dropped")],
        "mailchimp": [_mailchimp(C, "spam", "c1")],
    }
    per = tally(records, audit)
    _check_suppressions(audit, per, {("sms", "+14152030005"), ("email", "m@x.example")})
    assert (audit.suppressions_expected, audit.suppressions_missing, audit.suppressions_extra) == (2, 0, 0)
    off = CallbackAudit()
    _check_suppressions(off, per, {("sms", "+14152030005"), ("sms", "+19990000000")})
    assert (off.suppressions_missing, off.suppressions_extra) == (1, 1)
