"""App shapes at the edge (`herald apps ... --json`): never a secret or a hash, except the
secret a create or a rotation hands out once."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from herald.apps.models import App


class AppOut(BaseModel):
    id: uuid.UUID
    name: str
    key: str
    active: bool
    development: bool
    created_at: datetime
    updated_at: datetime
    # Set while a rotated-out secret still works.
    old_secret_valid_until: datetime | None

    @classmethod
    def of(cls, app: App, now: datetime) -> AppOut:
        until = app.previous_secret_expires_at
        return cls(
            id=app.id,
            name=app.name,
            key=app.key_id,
            active=app.active,
            development=app.development,
            created_at=app.created_at,
            updated_at=app.updated_at,
            old_secret_valid_until=until if until is not None and until > now else None,
        )


class CreatedOut(BaseModel):
    id: uuid.UUID
    name: str
    key: str
    secret: str


class RotatedOut(BaseModel):
    key: str
    secret: str
    old_secret_valid_until: datetime | None


class ChangedOut(BaseModel):
    """After disable or enable: the app, and how many held deliveries were made due."""

    app: AppOut
    released: int = 0


class DeletedOut(BaseModel):
    app: AppOut
    removed: dict[str, int]
