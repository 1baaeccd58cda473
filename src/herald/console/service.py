"""Console users, their roles in apps, and signing in. Services flush, never commit: the caller
owns the transaction (`kit/uow.py`). A failed sign-in is an outcome, not an exception, so
that the caller commits the failure count it wrote before answering."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from herald.config import ConsoleSettings
from herald.console import repository
from herald.console.errors import ConsoleUserExists, ConsoleUserNotFound, LastOwner
from herald.console.models import ConsoleLoginThrottle, ConsoleMembership, ConsoleSession, ConsoleUser
from herald.console.passwords import hash_password, new_password, verify_password
from herald.console.schemas import Member, MemberApp, NewSession, Role, SignedIn
from herald.kit.clock import utcnow
from herald.kit.errors import ValidationFailed

EMAIL_MAX = 320
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$|^[^@\s]{1,64}@localhost$")
# `last_seen_at` is written at most this often: a page view is not worth a write each.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Refused:
    """A sign-in that did not happen; `retry_after` is set while a lock holds."""

    retry_after: timedelta | None = None


def email_key(email: str) -> str:
    """What makes two emails the same account: case does not."""
    return email.strip().lower()


def _checked_email(email: str) -> str:
    email = email.strip()
    if len(email) > EMAIL_MAX or not _EMAIL.match(email):
        raise ValidationFailed("that is not an email address", field="email")
    return email


def token_hash(token: str) -> str:
    """The stored form of a session token: 256 random bits need no slow hash, only one-way."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(session: AsyncSession, email: str, password: str) -> ConsoleUser:
    email = _checked_email(email)
    if await repository.user_by_email(session, email_key(email)) is not None:
        raise ConsoleUserExists(f"a console user with the email {email} already exists", field="email")
    user = ConsoleUser(email=email, email_key=email_key(email), password_hash=await hash_password(password))
    session.add(user)
    await session.flush()
    return user


async def user_by_email(session: AsyncSession, email: str) -> ConsoleUser:
    user = await repository.user_by_email(session, email_key(email))
    if user is None:
        raise ConsoleUserNotFound(f"no console user has the email {email.strip()}", field="email")
    return user


async def any_user(session: AsyncSession) -> bool:
    return await repository.user_count(session) > 0


async def reset_password(session: AsyncSession, email: str, password: str) -> ConsoleUser:
    """A new password; every session of the user ends, and a lock on the account is lifted."""
    user = await user_by_email(session, email)
    now = utcnow()
    user.password_hash = await hash_password(password)
    user.password_changed_at = now
    await repository.revoke_sessions(session, user.id, now)
    await repository.clear_throttle(session, _account_key(user.email_key))
    await session.flush()
    return user


async def add_member(session: AsyncSession, app_id: uuid.UUID, email: str, role: Role) -> Member:
    """Make an existing console user a member of the app with `role` (or change their role)."""
    user = await user_by_email(session, email)
    current = await repository.membership(session, user.id, app_id)
    if current is not None:
        await set_role(session, app_id, user.id, role)
    else:
        session.add(ConsoleMembership(user_id=user.id, app_id=app_id, role=role.value))
        await session.flush()
    return Member(user.id, user.email, role, user.last_login_at)


async def _membership(session: AsyncSession, app_id: uuid.UUID, user_id: uuid.UUID) -> ConsoleMembership:
    m = await repository.membership(session, user_id, app_id)
    if m is None:
        raise ConsoleUserNotFound("this person is not a member of the app", field="user_id")
    return m


async def _keep_an_owner(session: AsyncSession, app_id: uuid.UUID, m: ConsoleMembership) -> None:
    if m.role == Role.OWNER and await repository.owner_count(session, app_id, lock=True) <= 1:
        raise LastOwner()


async def set_role(session: AsyncSession, app_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> None:
    m = await _membership(session, app_id, user_id)
    if role != Role.OWNER:
        await _keep_an_owner(session, app_id, m)
    m.role = role.value
    await session.flush()


async def remove_member(session: AsyncSession, app_id: uuid.UUID, user_id: uuid.UUID) -> None:
    m = await _membership(session, app_id, user_id)
    await _keep_an_owner(session, app_id, m)
    await session.delete(m)
    await session.flush()


async def members(session: AsyncSession, app_id: uuid.UUID) -> list[Member]:
    return [Member(u.id, u.email, Role(role), u.last_login_at) for u, role in await repository.members(session, app_id)]


def _account_key(key: str) -> str:
    return "account:" + hashlib.sha256(key.encode()).hexdigest()


def _address_key(address: str) -> str:
    return "address:" + address[:100]


async def sign_in(
    session: AsyncSession, settings: ConsoleSettings, email: str, password: str, address: str
) -> NewSession | Refused:
    """Check the password and open a session, within the lockout rules.

    Every path verifies one argon2 hash (the user's, or a decoy for an unknown email or a
    locked sign-in), so that the time taken tells nothing about the email.
    """
    now = utcnow()
    key = email_key(email)
    account, by_address = _account_key(key), _address_key(address)
    held = {t.key: t for t in await repository.throttles(session, [account, by_address])}
    locked = [t.locked_until for t in held.values() if t.locked_until is not None and t.locked_until > now]
    user = await repository.user_by_email(session, key) if len(key) <= EMAIL_MAX else None
    if locked:
        await verify_password(password, None)
        return Refused(retry_after=max(locked) - now)
    if not await verify_password(password, user.password_hash if user is not None else None) or user is None:
        limits = {account: settings.lockout_failures, by_address: settings.lockout_address_failures}
        lock = [
            _count_failure(session, held.get(k), k, limit, settings.lockout_duration, now)
            for k, limit in limits.items()
        ]
        await session.flush()
        until = [u for u in lock if u is not None]
        return Refused(retry_after=max(until) - now if until else None)
    if account in held:
        await session.delete(held[account])
    return await open_session(session, settings, user, now)


def _count_failure(
    session: AsyncSession, row: ConsoleLoginThrottle | None, key: str, limit: int, window: timedelta, now: datetime
) -> datetime | None:
    """One more failure under `key`; the lock's end if this one locks it. Failures older than
    the window are forgotten, so a typo a day never adds up to a lock."""
    if row is None:
        row = ConsoleLoginThrottle(key=key, failures=0, first_failure_at=now)
        session.add(row)
    if row.first_failure_at <= now - window:
        row.failures, row.first_failure_at = 0, now
    row.failures += 1
    if row.failures < limit:
        return None
    row.failures, row.first_failure_at, row.locked_until = 0, now, now + window
    return row.locked_until


async def open_session(
    session: AsyncSession, settings: ConsoleSettings, user: ConsoleUser, now: datetime | None = None
) -> NewSession:
    """A new session for `user`, who has just proved who they are."""
    now = now or utcnow()
    await repository.drop_dead_sessions(session, user.id, now)
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=token_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
        expires_at=now + settings.session_lifetime,
    )  # fmt: skip
    session.add(row)
    user.last_login_at = now
    await session.flush()
    return NewSession(token, row.id, row.expires_at)


async def signed_in(session: AsyncSession, settings: ConsoleSettings, token: str) -> SignedIn | None:
    """Who holds this session token: None once it is revoked, idle too long, past its
    lifetime, or older than the user's last password change."""
    found = await repository.session_by_token(session, token_hash(token))
    if found is None:
        return None
    s, user = found
    now = utcnow()
    if (
        s.revoked_at is not None
        or s.expires_at <= now
        or s.last_seen_at + settings.session_idle <= now
        or s.created_at < user.password_changed_at
    ):
        return None
    if s.last_seen_at <= now - TOUCH_EVERY:
        await repository.touch_session(session, s.id, now)
    apps = tuple(MemberApp(a, name, Role(role)) for a, name, role in await repository.memberships(session, user.id))
    return SignedIn(s.id, user.id, user.email, apps)


async def sign_out(session: AsyncSession, session_id: uuid.UUID) -> None:
    await repository.revoke_session(session, session_id, utcnow())


async def change_password(session: AsyncSession, user_id: uuid.UUID, current: str, new: str) -> bool:
    """Change one's own password, given the current one; every session ends (the caller opens
    a new one for the browser that asked). False: the current password is not right."""
    user = await session.get(ConsoleUser, user_id)
    if user is None or not await verify_password(current, user.password_hash):
        return False
    await reset_password(session, user.email, new)
    return True


SANDBOX_EMAIL = "admin@herald.localhost"


async def sandbox_owner(session: AsyncSession) -> tuple[str, str] | None:
    """For `herald run` in development: when there is no console user at all, one owner of
    every app, with a random password for the caller to print once. None: users exist."""
    if await any_user(session):
        return None
    password = new_password()
    user = await create_user(session, SANDBOX_EMAIL, password)
    for app_id in await repository.app_ids(session):
        session.add(ConsoleMembership(user_id=user.id, app_id=app_id, role=Role.OWNER.value))
    await session.flush()
    return user.email, password
