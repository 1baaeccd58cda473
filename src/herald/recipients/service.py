"""The rules for users and devices: validation, normalisation, re-registration."""

from __future__ import annotations

import base64
import binascii
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from herald.cache.interface import ContactCache
from herald.kit.clock import utcnow
from herald.kit.egress import EgressPolicy
from herald.kit.errors import DeviceNotFound, EgressDenied, NotFound, UserNotFound, ValidationFailed
from herald.kit.uow import UnitOfWork
from herald.recipients import repository
from herald.recipients.contacts import check_device_token, normalize_email, normalize_phone
from herald.recipients.models import Device, Suppression, User
from herald.recipients.schemas import DeviceIn, UserIn


def _check_timezone(value: str | None) -> None:
    if value is None:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"unknown time zone {value!r}", field="timezone") from exc


def _invalidate_later(uow: UnitOfWork, cache: ContactCache, app_id: uuid.UUID, user_id: str) -> None:
    async def hook() -> None:
        await cache.invalidate(app_id, user_id)

    uow.after_commit(hook)


async def upsert_user(
    uow: UnitOfWork, cache: ContactCache, app_id: uuid.UUID, user_id: str, body: UserIn
) -> tuple[User, bool]:
    """Create or replace a user's profile; returns the user and whether it was created."""
    email = normalize_email(body.email) if body.email else None
    phone = normalize_phone(body.phone) if body.phone else None
    _check_timezone(body.timezone)
    user = await repository.get_user(uow.session, app_id, user_id)
    created = user is None
    if user is None:
        user = User(app_id=app_id, user_id=user_id)
        uow.session.add(user)
    user.name, user.email, user.phone = body.name, email, phone
    user.locale = body.locale.replace("_", "-") if body.locale else None
    user.timezone = body.timezone
    user.attributes = body.attributes
    user.updated_at = utcnow()
    await uow.session.flush()
    _invalidate_later(uow, cache, app_id, user_id)
    return user, created


async def require_user(uow: UnitOfWork, app_id: uuid.UUID, user_id: str) -> User:
    user = await repository.get_user(uow.session, app_id, user_id)
    if user is None:
        raise UserNotFound(f"user {user_id!r} does not exist", field="user_id")
    return user


async def delete_user(uow: UnitOfWork, cache: ContactCache, app_id: uuid.UUID, user_id: str) -> None:
    """Erase the user's contact data, devices and preferences; the log keeps only the id."""
    if not await repository.delete_user(uow.session, app_id, user_id):
        raise UserNotFound(f"user {user_id!r} does not exist", field="user_id")
    _invalidate_later(uow, cache, app_id, user_id)


def _b64url_len(value: str) -> int:
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return -1


def _device_token(body: DeviceIn, egress: EgressPolicy) -> str:
    if body.platform == "web":
        sub = body.subscription
        if sub is None:
            raise ValidationFailed("a web device needs a push subscription", field="subscription")
        # Herald will POST to this URL: judged on its face now (no DNS lookup, whose answer
        # could change anyway), and again on its addresses at each connection.
        refused = egress.push.refusal(sub.endpoint)
        if refused is not None:
            raise EgressDenied(f"subscription endpoint refused: {refused}", field="subscription.endpoint")
        # RFC 8291: p256dh is an uncompressed P-256 point, auth a 16-byte secret.
        if _b64url_len(sub.keys.get("p256dh", "")) != 65:
            raise ValidationFailed(
                "subscription.keys.p256dh must be a P-256 public key", field="subscription.keys.p256dh"
            )
        if _b64url_len(sub.keys.get("auth", "")) != 16:
            raise ValidationFailed("subscription.keys.auth must be 16 bytes", field="subscription.keys.auth")
        return sub.endpoint
    return check_device_token(body.platform, body.token)


async def register_device(
    uow: UnitOfWork, cache: ContactCache, app_id: uuid.UUID, user_id: str, body: DeviceIn, egress: EgressPolicy
) -> tuple[Device, bool]:
    """Register a token; registering a known token again moves and revives it."""
    await require_user(uow, app_id, user_id)
    token = _device_token(body, egress)
    subscription = body.subscription.model_dump() if body.subscription else None
    device = await repository.find_device_by_token(uow.session, app_id, body.platform, token)
    created = device is None
    if device is None:
        device = Device(app_id=app_id, user_id=user_id, platform=body.platform, token=token)
        uow.session.add(device)
    elif device.user_id != user_id:
        _invalidate_later(uow, cache, app_id, device.user_id)
    device.user_id = user_id
    device.subscription = subscription
    device.active, device.retired_reason, device.retired_at = True, None, None
    device.last_seen = utcnow()
    await uow.session.flush()
    _invalidate_later(uow, cache, app_id, user_id)
    return device, created


async def remove_device(
    uow: UnitOfWork, cache: ContactCache, app_id: uuid.UUID, user_id: str, device_id: uuid.UUID
) -> None:
    device = await uow.session.get(Device, device_id)
    if device is None or device.app_id != app_id or device.user_id != user_id:
        raise DeviceNotFound(field="device_id")
    await uow.session.delete(device)
    _invalidate_later(uow, cache, app_id, user_id)


def _contacts(user: User) -> list[tuple[str, str]]:
    return [(channel, address) for channel, address in (("email", user.email), ("sms", user.phone)) if address]


async def suppressions(uow: UnitOfWork, app_id: uuid.UUID, user_id: str) -> list[Suppression]:
    """The user's addresses the app no longer sends to (a bounce, a complaint, a STOP)."""
    user = await require_user(uow, app_id, user_id)
    return await repository.suppressions_of(uow.session, app_id, _contacts(user))


async def remove_suppression(uow: UnitOfWork, app_id: uuid.UUID, user_id: str, channel: str, address: str) -> None:
    """Lift the suppression of one of the user's own addresses (an address someone else has is
    not theirs to lift): the send path reads suppressions afresh for each batch."""
    user = await require_user(uow, app_id, user_id)
    if (channel, address) not in _contacts(user) or not await repository.unsuppress(
        uow.session, app_id, channel, address
    ):
        raise NotFound("this address of the user is not suppressed", field="address")
