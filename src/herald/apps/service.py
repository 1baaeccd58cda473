"""Client apps: creating them, their secrets, disabling and deleting them, and authentication."""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken as UnreadableSeal
from sqlalchemy.ext.asyncio import AsyncSession

from herald.apps import holds, origins, repository, tokens
from herald.apps.models import App
from herald.apps.schemas import AppSettingsDoc, Branding, CategoryDef
from herald.kit.clock import utcnow
from herald.kit.errors import AppBusy, AppNotFound, ValidationFailed
from herald.kit.secrets import Vault, hash_secret, new_end_user_key, new_key_id, new_secret
from herald.kit.uow import UnitOfWork
from herald.queue.announce import announce
from herald.queue.outbox import Outbox
from herald.queue.transport import Broker

log = logging.getLogger(__name__)

NAME_MAX = 200  # the column's length
# A rotation is meant to retire the old secret; an overlap longer than this would not.
OVERLAP_MAX = timedelta(days=30)
# Long enough for every token minted with the old end-user key to run out.
END_USER_OVERLAP_MAX = tokens.MAX_LIFETIME


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """Returned once, at creation: the secret is never readable again."""

    app_id: uuid.UUID
    name: str
    key: str
    secret: str


@dataclass(frozen=True, slots=True)
class Rotation:
    """A new secret, shown once, and until when the old one still works (None: no longer)."""

    key: str
    secret: str
    old_secret_valid_until: datetime | None


@dataclass(frozen=True, slots=True)
class AppIdentity:
    """Who is calling: every query of a request is scoped by this app id."""

    app_id: uuid.UUID
    name: str


async def create_app(session: AsyncSession, name: str, pepper: str, *, development: bool = False) -> AppCredentials:
    name = name.strip()
    if not 0 < len(name) <= NAME_MAX:
        raise ValidationFailed(f"an app name is 1 to {NAME_MAX} characters", field="name")
    secret = new_secret()
    app = App(name=name, key_id=new_key_id(), secret_hash=hash_secret(secret, pepper), development=development)
    session.add(app)
    await session.flush()
    return AppCredentials(app_id=app.id, name=name, key=app.key_id, secret=secret)


async def list_apps(session: AsyncSession) -> list[App]:
    return await repository.all_apps(session)


async def get_app(session: AsyncSession, ref: str) -> App:
    """The app with this key (or id)."""
    app = await repository.by_ref(session, ref.strip())
    if app is None:
        raise AppNotFound(f"no app has the key or id {ref!r}")
    return app


async def rotate_secret(session: AsyncSession, ref: str, pepper: str, overlap: timedelta) -> Rotation:
    """A new secret; the current one keeps working for `overlap`. Only one old secret is
    kept: rotating again ends the overlap of the one before at once."""
    if not timedelta(0) <= overlap <= OVERLAP_MAX:
        raise ValidationFailed(f"the overlap is between 0 and {OVERLAP_MAX.days} days", field="overlap")
    app = await get_app(session, ref)
    now = utcnow()
    secret = new_secret()
    keep = overlap > timedelta(0)
    app.previous_secret_hash = app.secret_hash if keep else None
    app.previous_secret_expires_at = now + overlap if keep else None
    app.secret_hash = hash_secret(secret, pepper)
    app.updated_at = now
    await session.flush()
    return Rotation(app.key_id, secret, app.previous_secret_expires_at)


async def disable_app(session: AsyncSession, ref: str) -> App:
    """Refuse the app's requests and hold its queued work (see `herald.apps.holds`)."""
    app = await get_app(session, ref)
    if app.active:
        app.active = False
        app.updated_at = utcnow()
        await session.flush()
    return app


async def enable_app(session: AsyncSession, ref: str) -> App:
    app = await get_app(session, ref)
    if not app.active:
        app.active = True
        app.updated_at = utcnow()
        await session.flush()
    return app


async def release_held(uow: UnitOfWork, broker: Broker, outbox: Outbox | None, app_id: uuid.UUID) -> list[uuid.UUID]:
    """Make the app's held deliveries due now and announce them once `uow` commits: left to
    their hold, they would wait minutes (and on Redis sit in the delayed set as long)."""
    pairs = await repository.make_due(uow.session, app_id, holds.REASON, utcnow())
    await announce(uow, broker, outbox, pairs)
    return [i for i, _ in pairs]


def settled(app: App, now: datetime) -> bool:
    """Every worker has seen the app's last change, so none holds or sends on an older view."""
    return app.updated_at <= now - holds.SETTLE


async def footprint(session: AsyncSession, app: App) -> dict[str, int]:
    """What deleting the app removes, by kind."""
    return await repository.footprint(session, app.id)


async def delete_app(session: AsyncSession, ref: str) -> App:
    """Delete a disabled app and everything it owns.

    Refused while any of its deliveries is at a provider: the worker would then record an
    attempt for a delivery that no longer exists, which breaks its whole batch of outcomes,
    other apps' included.
    """
    app = await get_app(session, ref)
    now = utcnow()
    if app.active or not settled(app, now):
        raise AppBusy("disable the app, and give the workers a few seconds to hold its work, before deleting it")
    if sending := await repository.in_flight(session, app.id, now):
        raise AppBusy(f"{sending} deliveries of this app are being sent; try again once they have settled")
    await repository.remove(session, app.id)
    return app


@dataclass(frozen=True, slots=True)
class StoredSecrets:
    """What checking a request's credentials needs of its app: read once, then cached by the
    API for a few seconds, so a flood of wrong secrets or tokens for one key costs no
    database read each. The end-user keys are opened (in memory only)."""

    app_id: uuid.UUID
    name: str
    key: str
    active: bool
    secret_hash: str
    previous_hash: str | None
    previous_until: datetime | None
    end_user_key: str | None
    previous_end_user_key: str | None
    previous_end_user_key_until: datetime | None
    allowed_origins: frozenset[str]

    def token_keys(self, now: datetime) -> list[str]:
        """The keys an end-user token may be signed with now: the current, then the old within its overlap."""
        keys = [self.end_user_key] if self.end_user_key is not None else []
        until = self.previous_end_user_key_until
        if self.previous_end_user_key is not None and until is not None and until > now:
            keys.append(self.previous_end_user_key)
        return keys


def _open(vault: Vault, sealed: str | None, app: App) -> str | None:
    if sealed is None:
        return None
    try:
        return vault.open(sealed)
    except UnreadableSeal:  # sealed under another HERALD_SECRET_KEY: the app rotates its key
        log.warning("app %s: its end-user key cannot be opened with this secret key", app.key_id)
        return None


async def stored_secrets(session: AsyncSession, key: str, vault: Vault) -> StoredSecrets | None:
    """The app with this key, as `verify` and token checks need it; None if there is none."""
    app = await repository.by_key(session, key)
    if app is None:
        return None
    return StoredSecrets(
        app.id,
        app.name,
        app.key_id,
        app.active,
        app.secret_hash,
        app.previous_secret_hash,
        app.previous_secret_expires_at,
        _open(vault, app.end_user_key, app),
        _open(vault, app.previous_end_user_key, app),
        app.previous_end_user_key_expires_at,
        frozenset(app.allowed_origins),
    )


@functools.cache
def _decoy(pepper: str) -> str:
    """A hash no secret is known to match, to compare with where there is none to."""
    return hash_secret(secrets.token_urlsafe(32), pepper)


def verify(stored: StoredSecrets | None, secret: str, pepper: str) -> AppIdentity | None:
    """Who is calling, if `secret` is the app's current one, or its previous one within the
    rotation's overlap, and the app is enabled; one answer for every failure cause."""
    previous = None
    if stored is not None and stored.previous_until is not None and stored.previous_until > utcnow():
        previous = stored.previous_hash
    # The secret is hashed once and compared twice, even for an unknown key and against an
    # old secret even when none is kept, so that every answer takes the same time; a match
    # against the decoy counts for nothing.
    given, decoy = hash_secret(secret, pepper), _decoy(pepper)
    current_ok = hmac.compare_digest(given, stored.secret_hash if stored is not None else decoy)
    previous_ok = hmac.compare_digest(given, previous or decoy) and previous is not None
    if stored is None or not (current_ok or previous_ok) or not stored.active:
        return None
    return AppIdentity(app_id=stored.app_id, name=stored.name)


@dataclass(frozen=True, slots=True)
class EndUserKey:
    """What an app's backend needs to mint its end users' tokens."""

    key: str
    issuer: str
    previous_valid_until: datetime | None
    # Made by this call: what authenticates requests has not seen it yet.
    made_now: bool = False


async def _own(session: AsyncSession, app_id: uuid.UUID) -> App:
    app = await session.get(App, app_id)
    if app is None:  # deleted while its request was on its way
        raise AppNotFound()
    return app


async def end_user_key(session: AsyncSession, vault: Vault, app_id: uuid.UUID) -> EndUserKey:
    """The app's end-user key, made now if it has none yet."""
    app = await _own(session, app_id)
    made = app.end_user_key is None
    if made:
        await repository.set_end_user_key_if_none(session, app_id, vault.seal(new_end_user_key()))
        await session.refresh(app)  # this request's key, or the one a concurrent request set first
    key = _open(vault, app.end_user_key, app)
    if key is None:  # no token it signed can be checked any more: a new key puts that right
        key, made = new_end_user_key(), True
        app.end_user_key, app.previous_end_user_key, app.previous_end_user_key_expires_at = vault.seal(key), None, None
        await session.flush()
    until = app.previous_end_user_key_expires_at
    return EndUserKey(key, app.key_id, until if until and until > utcnow() else None, made_now=made)


async def rotate_end_user_key(session: AsyncSession, vault: Vault, app_id: uuid.UUID, overlap: timedelta) -> EndUserKey:
    """A new end-user key; tokens signed with the current one keep working for `overlap`.
    Only one old key is kept: rotating again ends the overlap of the one before at once."""
    if not timedelta(0) <= overlap <= END_USER_OVERLAP_MAX:
        raise ValidationFailed(
            f"the overlap is between 0 and {int(END_USER_OVERLAP_MAX.total_seconds())} seconds", field="overlap_seconds"
        )
    app = await _own(session, app_id)
    now = utcnow()
    keep = overlap > timedelta(0) and app.end_user_key is not None
    key = new_end_user_key()
    app.previous_end_user_key = app.end_user_key if keep else None
    app.previous_end_user_key_expires_at = now + overlap if keep else None
    app.end_user_key = vault.seal(key)
    await session.flush()
    return EndUserKey(key, app.key_id, app.previous_end_user_key_expires_at)


def mint_token(signing: EndUserKey, user_id: str, ttl: timedelta) -> tuple[str, datetime]:
    """A token for one of the app's users, as its backend would mint it; and its expiry."""
    return tokens.mint(signing.key, signing.issuer, user_id, utcnow(), ttl)


def _settings(app: App) -> AppSettingsDoc:
    return AppSettingsDoc(
        allowed_origins=list(app.allowed_origins),
        categories=[CategoryDef.model_validate(c) for c in app.categories],
        branding=Branding.model_validate(app.branding),
    )


async def get_settings(session: AsyncSession, app_id: uuid.UUID) -> AppSettingsDoc:
    return _settings(await _own(session, app_id))


async def set_settings(
    session: AsyncSession, app_id: uuid.UUID, doc: AppSettingsDoc, *, local_http: bool
) -> AppSettingsDoc:
    """Replace the app's settings: the web origins its end users may call from (`local_http`
    lets http://localhost in, for development), and its preference page's catalogue and look."""
    normalized = origins.normalize_all(doc.allowed_origins, local_http=local_http)
    app = await _own(session, app_id)
    app.allowed_origins = normalized
    app.categories = [c.model_dump(exclude_none=True) for c in doc.categories]
    app.branding = doc.branding.model_dump(exclude_none=True)
    await session.flush()
    return _settings(app)


@dataclass(frozen=True, slots=True)
class PageSettings:
    """What an app's hosted preference page needs of it."""

    name: str
    active: bool
    categories: list[CategoryDef]
    branding: Branding


async def page_settings(session: AsyncSession, app_id: uuid.UUID) -> PageSettings:
    app = await _own(session, app_id)
    doc = _settings(app)
    return PageSettings(app.name, app.active, doc.categories, doc.branding)
