"""Creating client apps and authenticating their requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.apps.models import App
from herald.kit.errors import Unauthenticated
from herald.kit.secrets import hash_secret, new_key_id, new_secret, secret_matches


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """Returned once, at creation: the secret is never readable again."""

    app_id: uuid.UUID
    name: str
    key: str
    secret: str


@dataclass(frozen=True, slots=True)
class AppIdentity:
    """Who is calling: every query of a request is scoped by this app id."""

    app_id: uuid.UUID
    name: str


async def create_app(session: AsyncSession, name: str, pepper: str) -> AppCredentials:
    secret = new_secret()
    app = App(name=name, key_id=new_key_id(), secret_hash=hash_secret(secret, pepper))
    session.add(app)
    await session.flush()
    return AppCredentials(app_id=app.id, name=name, key=app.key_id, secret=secret)


async def list_apps(session: AsyncSession) -> list[App]:
    return list((await session.scalars(select(App).order_by(App.created_at))).all())


async def authenticate(session: AsyncSession, key: str, secret: str, pepper: str) -> AppIdentity:
    """The app owning this key, if the secret matches; one error for every failure cause."""
    app = await session.scalar(select(App).where(App.key_id == key))
    # Hash even for an unknown key so the two failures take the same time.
    stored = app.secret_hash if app is not None else hash_secret("x", pepper)
    if not secret_matches(secret, stored, pepper) or app is None or not app.active:
        raise Unauthenticated()
    return AppIdentity(app_id=app.id, name=app.name)
