"""An app's provider accounts under the egress rules: refused when saved, and again when used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from herald.apps.models import App
from herald.config import EgressSettings, Mode, Settings
from herald.integrations import service
from herald.integrations.schemas import IntegrationIn
from herald.kit.egress import EgressPolicy
from herald.kit.uow import unit_of_work
from tests.harness import Herald
from tests.network import herald_with

TWILIO = {"account_sid": "AC1", "auth_token": "secret-token", "from_number": "+15005550006"}
SENDGRID = {"api_key": "SG.secret", "from_email": "noreply@example.com"}
MAILCHIMP = {"api_key": "md-secret", "from_email": "noreply@example.com", "webhook_key": "whk-secret"}
APNS = {"team_id": "T", "key_id": "K", "private_key": "-----BEGIN PRIVATE KEY-----", "topic": "com.example"}


def fcm(token_uri: str = "https://oauth2.googleapis.com/token", **fields: str) -> dict[str, Any]:
    account = {"project_id": "p", "client_email": "c@p.iam", "private_key": "k", "token_uri": token_uri}
    return {"service_account": orjson.dumps(account).decode(), **fields}


@pytest.fixture
async def production(settings: Settings) -> AsyncIterator[Herald]:
    egress = EgressSettings(provider_hosts=["*.relay.example", "smtp.internal.example"])
    async with herald_with(settings, mode=Mode.PRODUCTION, egress=egress) as h:
        yield h


@pytest.fixture
async def development(settings: Settings) -> AsyncIterator[Herald]:
    async with herald_with(settings) as h:
        yield h


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("twilio", {**TWILIO, "base_url": "https://twilio.attacker.example"}, "config.base_url"),
        ("twilio", {**TWILIO, "base_url": "http://169.254.169.254/latest"}, "config.base_url"),
        ("twilio", {**TWILIO, "base_url": "https://relay.example"}, "config.base_url"),  # not under *.relay.example
        (
            "vonage",
            {"api_key": "k", "api_secret": "s", "from_": "Herald", "base_url": "http://10.0.0.8"},
            "config.base_url",
        ),
        ("sendgrid", {**SENDGRID, "base_url": "http://127.0.0.1:8025"}, "config.base_url"),
        ("mailchimp", {**MAILCHIMP, "base_url": "https://mandrillapp.com.attacker.example"}, "config.base_url"),
        ("apns", {**APNS, "base_url": "https://apns.attacker.example"}, "config.base_url"),
        ("fcm", fcm(base_url="https://fcm.attacker.example"), "config.base_url"),
        ("fcm", fcm("http://metadata.google.internal/token"), "config.service_account.token_uri"),
        ("smtp", {"host": "10.0.0.5", "port": 25}, "config.host"),
        ("smtp", {}, "config.host"),  # the default host is the development sandbox's, 127.0.0.1
    ],
)
async def test_production_refuses_a_host_override_off_the_allow_list(
    production: Herald, kind: str, config: dict[str, Any], field: str
) -> None:
    r = await production.client.put("/v1/integrations/own", json={"kind": kind, "config": config})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("egress_denied", field)
    assert "secret" not in r.text
    assert (await production.client.get("/v1/integrations")).json() == []


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        ("twilio", TWILIO),
        ("twilio", {**TWILIO, "base_url": "https://sms.relay.example"}),
        ("sendgrid", {**SENDGRID, "base_url": "https://api.eu.sendgrid.com"}),
        ("mailchimp", MAILCHIMP),
        ("apns", {**APNS, "base_url": "https://api.sandbox.push.apple.com"}),
        ("fcm", fcm()),
        ("smtp", {"host": "smtp.internal.example", "port": 587}),
    ],
)
async def test_production_accepts_provider_and_allow_listed_hosts(
    production: Herald, kind: str, config: dict[str, Any]
) -> None:
    r = await production.client.put("/v1/integrations/own", json={"kind": kind, "config": config})
    assert r.status_code == 201, r.text


async def test_development_accepts_overrides_but_not_private_addresses(development: Herald) -> None:
    ok = await development.client.put(
        "/v1/integrations/a", json={"kind": "twilio", "config": {**TWILIO, "base_url": "https://twilio.test"}}
    )
    assert ok.status_code == 201, ok.text
    local = {"kind": "smtp", "config": {"host": "127.0.0.1", "port": 2525}}  # the sandbox
    assert (await development.client.put("/v1/integrations/b", json=local)).status_code == 201
    metadata = {"kind": "twilio", "config": {**TWILIO, "base_url": "http://169.254.169.254"}}
    r = await development.client.put("/v1/integrations/c", json=metadata)
    assert r.status_code == 422 and r.json()["error"]["code"] == "egress_denied"


async def test_an_account_saved_under_earlier_rules_is_refused_when_used(production: Herald) -> None:
    """The operator tightened the rules after the app saved its account: the send fails as
    egress_denied, with nothing sent, instead of reaching the old host."""
    async with production.runtime.sessions() as session:
        app_id = await session.scalar(select(App.id))
    assert app_id is not None
    saved = IntegrationIn(kind="twilio", config={**TWILIO, "base_url": "http://127.0.0.1:9"})
    async with unit_of_work(production.runtime.sessions) as uow:
        await service.put(uow, production.runtime.vault, app_id, "own", saved, EgressPolicy())
    await production.user()
    await production.template()
    r = await production.notify(channels=["sms"])
    await production.drain()
    [delivery] = (await production.notification(r.json()["id"]))["deliveries"]
    assert (delivery["state"], delivery["reason"], delivery["provider"]) == ("failed", "egress_denied", "own")
