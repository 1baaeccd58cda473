"""Turning a request into a plan of deliveries, before anything is written.

Everything that can reject a request happens here (unknown user or template, bad address,
missing template variable), so a rejected request leaves nothing half-written.

A plan holds plain rows, not ORM objects: a batch of a thousand becomes a few thousand rows,
and building them through the ORM's instrumentation cost more than writing them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from herald.channels.base import Recipient
from herald.channels.registry import spec
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.errors import NoContent, NoRecipient, TemplateNotFound, UserNotFound, ValidationFailed
from herald.kit.ids import uuid7
from herald.notifications.models import DeliveryState, NotificationRow, SkipReason
from herald.notifications.schemas import NotificationIn
from herald.recipients.card import ContactCard, DeviceCard, inline_device
from herald.recipients.contacts import check_device_token, normalize_email, normalize_phone
from herald.templates.context import render_context, user_context
from herald.templates.render import pick, prepare, render, uncompiled


@dataclass(slots=True)
class NewDelivery:
    """A `deliveries` row about to be inserted (same names as the columns); the counters and
    the lease start empty, and read as such where the new row is shown."""

    id: uuid.UUID
    app_id: uuid.UUID
    notification_id: uuid.UUID
    channel: str
    device_id: uuid.UUID | None
    platform: str | None
    address: str | None
    state: str
    reason: str | None
    available_at: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    template_version: int | None = None
    attempts: ClassVar[int] = 0
    provider: ClassVar[str | None] = None
    provider_message_id: ClassVar[str | None] = None


@dataclass(slots=True)
class Plan:
    notification: NotificationRow
    deliveries: list[NewDelivery] = field(default_factory=list)


def recipient_of(req: NotificationIn, users: dict[str, ContactCard | None]) -> Recipient:
    """The recipient, with a stored user's addresses and active devices from their card."""
    if req.user_id and req.recipient:
        raise ValidationFailed("give either user_id or recipient, not both", field="recipient")
    if req.user_id:
        user = users.get(req.user_id)
        if user is None:
            raise UserNotFound(f"user {req.user_id!r} does not exist", field="user_id")
        return Recipient(user.user_id, user.email, user.phone, user.locale, user.name, user.attributes, user.devices)
    if req.recipient is None:
        raise NoRecipient(field="user_id")
    r = req.recipient
    if not (r.email or r.phone or r.device):
        raise NoRecipient("an inline recipient needs an email, a phone or a device", field="recipient")
    device = r.device
    return Recipient(
        None,
        normalize_email(r.email, "recipient.email") if r.email else None,
        normalize_phone(r.phone, "recipient.phone") if r.phone else None,
        r.locale,
        r.name,
        {},
        (inline_device(device.platform, check_device_token(device.platform, device.token, "recipient.device.token")),)
        if device
        else (),
    )


def content_of(req: NotificationIn, templates: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(channels, locales) content maps, from the template (key -> its content) or inline."""
    if req.template and req.content:
        raise ValidationFailed("give either template or content, not both", field="content")
    if req.template:
        t = templates.get(req.template)
        if t is None:
            raise TemplateNotFound(f"template {req.template!r} does not exist", field="template")
        return t.get("channels", {}), t.get("locales", {})
    if req.content is None:
        raise NoContent(field="template")
    return req.content, {}


async def prepare_templates(reqs: list[NotificationIn], templates: dict[str, dict[str, Any]]) -> None:
    """Compile the templates these requests will render before they are planned (planning
    renders, and cannot wait): a large one compiles in the compiler process, not on the loop."""
    contents: list[dict[str, Any]] = []
    for req in reqs:
        if req.content is not None:
            contents.extend(req.content.values())
        elif req.template and (t := templates.get(req.template)) is not None:
            contents.extend(t.get("channels", {}).values())
            for variant in t.get("locales", {}).values():
                contents.extend(variant.values())
    if todo := uncompiled(contents):
        await prepare(todo)


def build_plan(
    app_id: uuid.UUID,
    req: NotificationIn,
    r: Recipient,
    channels: dict[str, Any],
    locales: dict[str, Any],
    now: datetime | None = None,
    version: int | None = None,
) -> Plan:
    now = now or utcnow()
    wanted = req.channels or [c for c in Channel.all() if c in channels]
    if not wanted:
        raise NoContent("the content has no channel to send on", field="channels")
    ctx = render_context(
        req.data, user_context(r.name, r.email, r.phone, r.locale, r.user_id, r.attributes), req.event_id, req.category
    )
    scheduled = req.send_at is not None and req.send_at > now
    n = NotificationRow(
        uuid7(),
        app_id,
        req.event_id,
        r.user_id,
        req.recipient.model_dump(exclude_none=True) if req.recipient else None,
        req.template,
        req.data,
        req.content,
        req.category,
        req.critical,
        req.send_at,
        now,
    )
    plan = Plan(n)
    stamp = version if req.template else None
    for channel in wanted:
        definition = spec(channel)
        content = pick(channels, locales, r.locale, channel)
        if content is None:
            raise NoContent(f"no {channel.value} content for this notification", field="channels")
        render(definition, content, ctx)  # validation only: the worker renders again at send time
        targets = definition.destinations(r)
        if not targets:
            plan.deliveries.append(
                _delivery(n, channel, None, None, DeliveryState.SKIPPED, now, SkipReason.NO_ADDRESS, stamp)
            )
            continue
        state = DeliveryState.SCHEDULED if scheduled else DeliveryState.QUEUED
        for target in targets:
            # A stored user's address is looked up again at send time; only inline
            # recipients carry their address on the delivery.
            addr = target.address if r.user_id is None else None
            at = req.send_at if scheduled else now
            plan.deliveries.append(_delivery(n, channel, addr, target.device, state, at, version=stamp))
    return plan


def _delivery(
    n: NotificationRow,
    channel: Channel,
    address: str | None,
    device: DeviceCard | None,
    state: DeliveryState,
    at: datetime | None,
    reason: SkipReason | None = None,
    version: int | None = None,
) -> NewDelivery:
    return NewDelivery(
        uuid7(),
        n.app_id,
        n.id,
        channel.value,
        device.id if device else None,
        device.platform if device else None,
        address,
        state.value,
        reason.value if reason else None,
        at or n.created_at,
        n.created_at,
        n.created_at,
        n.created_at if state is DeliveryState.SKIPPED else None,
        version,
    )
