"""Storing an app's provider accounts: validated by the provider's own config model, sealed."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.integrations.models import Integration
from herald.integrations.schemas import IntegrationIn, IntegrationOut
from herald.kit.clock import utcnow
from herald.kit.egress import EgressPolicy
from herald.kit.errors import EgressDenied, NotFound, ValidationFailed, field_of
from herald.kit.secrets import Vault
from herald.kit.uow import UnitOfWork
from herald.providers.registry import KINDS, account_refusal, masked, parse_config, reveal

# The providers that post receipts back (herald.callbacks); the others' answer is final.
CALLBACK_KINDS = frozenset({"twilio", "vonage", "sendgrid", "mailchimp"})

_PREFIX = re.compile(r"^\+[1-9][0-9]{0,5}$")


class IntegrationNotFound(NotFound):
    """The integration does not exist."""

    code = "integration_not_found"


class InvalidProviderConfig(ValidationFailed):
    """The provider configuration is not valid."""

    code = "invalid_provider_config"


@dataclass(frozen=True, slots=True)
class Account:
    """An integration as the router uses it, credentials opened."""

    id: uuid.UUID
    name: str
    kind: str
    channel: str
    priority: int
    countries: tuple[str, ...]
    updated_at: datetime
    config: dict[str, Any] = field(repr=False)  # opened credentials: never in a repr or a log


def _validate(body: IntegrationIn, egress: EgressPolicy) -> dict[str, Any]:
    if body.kind not in KINDS:
        raise InvalidProviderConfig(f"unknown provider kind {body.kind!r}; one of {sorted(KINDS)}", field="kind")
    for prefix in body.countries:
        if not _PREFIX.match(prefix):
            raise InvalidProviderConfig(f"{prefix!r} is not an E.164 prefix like +44", field="countries")
    try:
        config = parse_config(body.kind, body.config)
    except ValidationError as exc:
        first = exc.errors()[0]
        # Only the message and location: pydantic's input echo could carry a secret.
        field = field_of(("config", *first.get("loc", ())))
        raise InvalidProviderConfig(str(first["msg"]), field=field) from exc
    refused = account_refusal(body.kind, config, egress)
    if refused is not None:
        raise EgressDenied(refused[1], field=f"config.{refused[0]}")
    return reveal(config)


def present(i: Integration, vault: Vault, public_url: str | None = None) -> IntegrationOut:
    config = parse_config(i.kind, orjson.loads(vault.open(i.sealed_config)))
    return IntegrationOut(
        id=i.id,
        callback_url=callback_url(i.kind, i.id, public_url),
        name=i.name,
        kind=i.kind,
        channel=i.channel,
        priority=i.priority,
        countries=list(i.countries.get("prefixes", [])),
        enabled=i.enabled,
        config=masked(config),
        created_at=i.created_at,
        updated_at=i.updated_at,
    )


def opened_config(i: Integration, vault: Vault) -> dict[str, Any]:
    """The account's settings with its credentials in clear: for an edit in the console that
    keeps the credentials it was not given again (they are never shown)."""
    config: dict[str, Any] = orjson.loads(vault.open(i.sealed_config))
    return config


def callback_url(kind: str, account: uuid.UUID | None, public_url: str | None) -> str | None:
    """Where a provider account's receipts go, for the kinds that send any."""
    if kind not in CALLBACK_KINDS:
        return None
    path = f"/v1/callbacks/{kind}" + (f"/{account}" if account else "")
    return (public_url or "").rstrip("/") + path


async def put(
    uow: UnitOfWork, vault: Vault, app_id: uuid.UUID, name: str, body: IntegrationIn, egress: EgressPolicy
) -> tuple[Integration, bool]:
    """Create or replace an account; a host the egress rules refuse is refused here already."""
    config = _validate(body, egress)
    i = await uow.session.scalar(select(Integration).where(Integration.app_id == app_id, Integration.name == name))
    created = i is None
    if i is None:
        i = Integration(app_id=app_id, name=name)
        uow.session.add(i)
    i.kind, i.channel, i.priority, i.enabled = body.kind, KINDS[body.kind].channel.value, body.priority, body.enabled
    i.countries = {"prefixes": body.countries}
    i.sealed_config = vault.seal(orjson.dumps(config).decode())
    i.updated_at = utcnow()
    await uow.session.flush()
    return i, created


async def get(uow: UnitOfWork, app_id: uuid.UUID, name: str) -> Integration:
    i = await uow.session.scalar(select(Integration).where(Integration.app_id == app_id, Integration.name == name))
    if i is None:
        raise IntegrationNotFound(f"integration {name!r} does not exist", field="name")
    return i


async def list_all(uow: UnitOfWork, app_id: uuid.UUID) -> list[Integration]:
    rows = await uow.session.scalars(
        select(Integration).where(Integration.app_id == app_id).order_by(Integration.channel, Integration.priority)
    )
    return list(rows.all())


async def delete(uow: UnitOfWork, app_id: uuid.UUID, name: str) -> None:
    await uow.session.delete(await get(uow, app_id, name))


async def load_accounts(session: AsyncSession, vault: Vault, app_id: uuid.UUID) -> list[Account]:
    """The app's enabled accounts, opened, for the send path."""
    rows = await session.scalars(
        select(Integration)
        .where(Integration.app_id == app_id, Integration.enabled.is_(True))
        .order_by(Integration.priority)
    )
    return [
        Account(
            i.id,
            i.name,
            i.kind,
            i.channel,
            i.priority,
            tuple(i.countries.get("prefixes", [])),
            i.updated_at,
            orjson.loads(vault.open(i.sealed_config)),
        )
        for i in rows
    ]
