"""An app's webhook endpoints: validated against the egress rules, secrets sealed and shown
once, replays. Services flush; the caller commits and then forgets the subscriptions
snapshot (`Subscriptions.invalidate`), so this process's consumer sees the change at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import orjson

from herald.kit.clock import utcnow
from herald.kit.egress import EgressPolicy
from herald.kit.errors import EgressDenied, NotFound, ValidationFailed
from herald.kit.secrets import Vault
from herald.kit.uow import UnitOfWork
from herald.webhooks import repository
from herald.webhooks.models import MessageState, WebhookEndpoint
from herald.webhooks.schemas import AttemptOut, EndpointIn, EndpointOut, EndpointPatch, MessageOut, ReplayIn
from herald.webhooks.signing import new_secret

# Each endpoint subscribed to an event costs a message row in the event's own transaction:
# a bound on the fan-out of one event.
MAX_ENDPOINTS = 20


class WebhookNotFound(NotFound):
    """The webhook endpoint does not exist."""

    code = "webhook_not_found"


class WebhookMessageNotFound(NotFound):
    """The webhook message does not exist."""

    code = "webhook_message_not_found"


class TooManyWebhooks(ValidationFailed):
    """The app already has as many webhook endpoints as allowed."""

    code = "too_many_webhooks"


def check_url(url: str, egress: EgressPolicy) -> None:
    """The egress rules of an app's provider accounts, applied when the URL is saved: no
    loopback, private or metadata addresses (loopback allowed in development only). The
    dispatcher applies them again on the addresses resolved at each connection."""
    refused = egress.accounts.refusal(url)
    if refused is not None:
        raise EgressDenied(refused, field="url")


def present(e: WebhookEndpoint, now: datetime | None = None) -> EndpointOut:
    now = now or utcnow()
    overlap = e.previous_until if e.sealed_previous and e.previous_until and e.previous_until > now else None
    return EndpointOut(
        id=e.id,
        url=e.url,
        events=list(e.events),
        description=e.description,
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        disabled_at=e.disabled_at,
        failing_since=e.failing_since,
        previous_secret_until=overlap,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


async def create(
    uow: UnitOfWork, vault: Vault, egress: EgressPolicy, app_id: uuid.UUID, body: EndpointIn
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, in clear this once."""
    check_url(body.url, egress)
    if await repository.count(uow.session, app_id) >= MAX_ENDPOINTS:
        raise TooManyWebhooks(f"an app may have at most {MAX_ENDPOINTS} webhook endpoints")
    secret = new_secret()
    now = utcnow()
    e = WebhookEndpoint(
        app_id=app_id,
        url=body.url,
        description=body.description,
        events=sorted({t.value for t in body.events}),
        enabled=body.enabled,
        sealed_secret=vault.seal(secret),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(e)
    await uow.session.flush()
    return e, secret


async def get(uow: UnitOfWork, app_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    e = await repository.endpoint(uow.session, app_id, endpoint_id)
    if e is None:
        raise WebhookNotFound(f"webhook endpoint {endpoint_id} does not exist", field="webhook_id")
    return e


async def list_all(uow: UnitOfWork, app_id: uuid.UUID) -> list[WebhookEndpoint]:
    return await repository.endpoints(uow.session, app_id)


async def update(
    uow: UnitOfWork, egress: EgressPolicy, app_id: uuid.UUID, endpoint_id: uuid.UUID, body: EndpointPatch
) -> WebhookEndpoint:
    e = await get(uow, app_id, endpoint_id)
    if body.url is not None:
        check_url(body.url, egress)
        e.url = body.url
    if body.events is not None:
        e.events = sorted({t.value for t in body.events})
    if body.description is not None:
        e.description = body.description
    if body.enabled is not None:
        if body.enabled and not e.enabled:
            # A fresh start: the failures that disabled it are not held against it again.
            e.disabled_reason, e.disabled_at, e.failing_since = None, None, None
        e.enabled = body.enabled
    e.updated_at = utcnow()
    await uow.session.flush()
    return e


async def delete(uow: UnitOfWork, app_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    await uow.session.delete(await get(uow, app_id, endpoint_id))


async def rotate(
    uow: UnitOfWork, vault: Vault, app_id: uuid.UUID, endpoint_id: uuid.UUID, overlap: timedelta
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one goes on signing too for `overlap` (0: stops now)."""
    e = await get(uow, app_id, endpoint_id)
    secret = new_secret()
    now = utcnow()
    if overlap > timedelta(0):
        e.sealed_previous, e.previous_until = e.sealed_secret, now + overlap
    else:
        e.sealed_previous, e.previous_until = None, None
    e.sealed_secret = vault.seal(secret)
    e.updated_at = now
    await uow.session.flush()
    return e, secret


async def replay(uow: UnitOfWork, app_id: uuid.UUID, endpoint_id: uuid.UUID, body: ReplayIn) -> int:
    """Queue one message or a range again; a message id of another endpoint is a 404."""
    await get(uow, app_id, endpoint_id)
    queued = await repository.requeue(
        uow.session, endpoint_id, utcnow(), message_id=body.message_id, since=body.since, until=body.until
    )
    if body.message_id is not None and queued == 0:
        raise WebhookMessageNotFound(f"message {body.message_id} does not exist", field="message_id")
    return queued


async def messages(
    uow: UnitOfWork, app_id: uuid.UUID, endpoint_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> list[MessageOut]:
    await get(uow, app_id, endpoint_id)
    return [
        MessageOut(
            id=m.id,
            type=m.event_type,
            state=m.state,
            attempts=m.attempts,
            next_attempt_at=m.next_at if m.state == MessageState.PENDING else None,
            created_at=m.created_at,
            finished_at=m.finished_at,
            payload=orjson.loads(m.body),
        )
        for m in await repository.messages(uow.session, endpoint_id, before, limit)
    ]


async def attempts(
    uow: UnitOfWork, app_id: uuid.UUID, endpoint_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> list[AttemptOut]:
    await get(uow, app_id, endpoint_id)
    return [
        AttemptOut(
            id=a.id,
            message_id=a.message_id,
            number=a.number,
            status_code=a.status_code,
            latency_ms=a.latency_ms,
            error=a.error,
            attempted_at=a.attempted_at,
        )
        for a in await repository.attempts(uow.session, endpoint_id, before, limit)
    ]
