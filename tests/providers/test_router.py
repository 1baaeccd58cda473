"""The router builds an app's own accounts under the egress rules in force when it builds them."""

from __future__ import annotations

import logging
import uuid

import pytest

from herald.channels.registry import spec
from herald.config import RouteSettings
from herald.integrations.service import Account
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.egress import EgressPolicy
from herald.providers.messages import SmsMessage
from herald.providers.outcome import PermanentFailure
from herald.providers.registry import Refused
from herald.providers.router import Router
from herald.providers.twilio import TwilioAdapter

APP = uuid.uuid4()
TWILIO = {"account_sid": "AC1", "auth_token": "secret-token", "from_number": "+15005550006"}


def account(name: str, priority: int, **config: str) -> Account:
    return Account(uuid.uuid4(), name, "twilio", "sms", priority, (), utcnow(), {**TWILIO, **config})


def router(accounts: list[Account], egress: EgressPolicy) -> Router:
    async def load(app_id: uuid.UUID) -> list[Account]:
        return accounts

    return Router([], RouteSettings(), load, egress=egress)


SMS = SmsMessage(key="k" * 32, to="+14155550123", text="hi")


async def test_a_refused_account_sends_nothing_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    r = router([account("own", 0, base_url="https://twilio.attacker.example")], EgressPolicy(production=True))
    with caplog.at_level(logging.WARNING, logger="herald.providers.registry"):
        [adapter] = await r.candidates(APP, SMS, spec(Channel.SMS))
    assert isinstance(adapter, Refused) and adapter.name == "own"
    outcome = await adapter.send(SMS)
    assert isinstance(outcome, PermanentFailure) and outcome.code == "egress_denied"
    assert "twilio.attacker.example" in (outcome.detail or "")
    assert "secret-token" not in caplog.text and "twilio.attacker.example" in caplog.text
    await r.close()


async def test_the_apps_allowed_accounts_go_before_a_refused_one() -> None:
    accounts = [account("moved", 0, base_url="https://twilio.attacker.example"), account("main", 1)]
    r = router(accounts, EgressPolicy(production=True))
    [adapter] = await r.candidates(APP, SMS, spec(Channel.SMS))
    assert isinstance(adapter, TwilioAdapter) and adapter.name == "main"
    # Development's rules let the same override through.
    development = router(accounts, EgressPolicy())
    assert [a.name for a in await development.candidates(APP, SMS, spec(Channel.SMS))] == ["moved", "main"]
    await r.close()
    await development.close()
