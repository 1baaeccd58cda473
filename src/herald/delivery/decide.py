"""The rules applied at send time, before any provider is called.

Opt-outs, rate limits and content are judged now, not at intake, so a preference changed
after a notification was accepted is still honoured.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from herald.config import Settings
from herald.delivery.compose import compose
from herald.delivery.work import Work
from herald.kit.channels import Channel
from herald.kit.errors import HeraldError, RenderLimit
from herald.notifications.intake import render_context, user_context
from herald.notifications.models import SkipReason
from herald.preferences.rules import allows
from herald.providers.messages import OutboundMessage
from herald.ratelimit.interface import RateLimiter
from herald.recipients.card import ContactCard, DeviceCard
from herald.templates.render import pick, prepare, render, uncompiled


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class Defer:
    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Fail:
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Send:
    message: OutboundMessage


Decision = Skip | Defer | Fail | Send


@dataclass(frozen=True, slots=True)
class Target:
    address: str | None
    device: DeviceCard | None


def resolve(work: Work, card: ContactCard | None) -> Target | Skip:
    """Where this delivery goes now: the user's current address or still-active device."""
    d, n = work.delivery, work.notification
    if n.user_id is not None and card is None:
        return Skip(SkipReason.USER_DELETED)
    if d.channel == Channel.PUSH:
        device = card.device(d.device_id) if card and d.device_id else None
        return Target(None, device) if device else Skip(SkipReason.DEVICE_RETIRED)
    address = d.address
    if address is None and card is not None:
        address = card.email if d.channel == Channel.EMAIL else card.phone
    return Target(address, None) if address else Skip(SkipReason.NO_ADDRESS)


def _rate_key(work: Work, target: Target) -> str:
    who = work.notification.user_id or target.address or ""
    return f"{work.delivery.app_id}:{who}:{work.delivery.channel}"


async def decide(
    work: Work, card: ContactCard | None, target: Target, limiter: RateLimiter, settings: Settings
) -> Decision:
    d, n = work.delivery, work.notification
    channel = Channel(d.channel)
    if card is not None and not n.critical and not allows(card.preferences, channel.value, n.category):
        return Skip(SkipReason.OPTED_OUT)
    limit = settings.rate_limits.get(channel)
    # Only a first attempt is metered: a retry after a provider failure is the same message.
    if limit is not None and not n.critical and d.attempts == 0:
        wait = await limiter.acquire(_rate_key(work, target), limit.limit, limit.period.total_seconds())
        if wait is not None:
            if settings.policy_for(n.category) == "skip":
                return Skip(SkipReason.RATE_LIMITED)
            return Defer(wait, SkipReason.RATE_LIMITED)
    locale = card.locale if card else (n.recipient or {}).get("locale")
    content = pick(work.channels, work.locales, locale, channel)
    if content is None:
        return Skip(SkipReason.NO_CONTENT)
    if todo := uncompiled([content]):
        await prepare(todo)  # a large template compiles off the event loop
    if card is not None:
        user = user_context(card.name, card.email, card.phone, card.locale, card.user_id, card.attributes)
        name = card.name
    else:
        r = n.recipient or {}
        user = user_context(r.get("name"), r.get("email"), r.get("phone"), r.get("locale"), None, {})
        name = r.get("name")
    try:
        rendered = render(channel, content, render_context(n.data, user, n.event_id, n.category))
    except HeraldError as exc:
        if isinstance(exc, RenderLimit):
            await asyncio.sleep(0)  # it may have run for its whole CPU budget: others go first
        return Fail(exc.code, exc.message)
    return Send(
        compose(
            d.idempotency_key,
            rendered,
            address=target.address,
            device=target.device,
            name=name,
            category=n.category,
            critical=n.critical,
        )
    )
