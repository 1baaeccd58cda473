"""App shapes at the edge (`herald apps ... --json`, and what an app reads and sets of itself
on the API): never a secret or a hash, except the secret a create or a rotation hands out
once, and the end-user key, which the app itself may read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from herald.apps.models import App
from herald.apps.origins import MAX_ORIGIN, MAX_ORIGINS
from herald.apps.tokens import MAX_LIFETIME


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


class EndUserKeyOut(BaseModel):
    """What an app's backend needs to mint its end users' tokens itself."""

    key: str = Field(description="Signs your end users' tokens (HMAC-SHA256). Keep it on your servers, never in a page")
    algorithm: Literal["HS256"] = "HS256"
    issuer: str = Field(description="Your app key: every token's `iss` claim")
    max_lifetime_seconds: int = Field(description="How long a token may live at most: `exp - iat`")
    previous_key_valid_until: datetime | None = Field(
        description="Until when tokens signed with the key before the last rotation still work"
    )


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(
        default=3600,
        ge=0,
        le=int(MAX_LIFETIME.total_seconds()),
        description="How long tokens signed with the current key keep working (0: stop at once, for a leaked key)",
    )


class AppSettingsDoc(BaseModel):
    """What an app sets for itself."""

    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[Annotated[str, Field(min_length=1, max_length=MAX_ORIGIN)]] = Field(
        max_length=MAX_ORIGINS,
        description="Web origins (https://host[:port]) whose pages may call the end-user API with your tokens",
    )


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int = Field(default=3600, ge=60, le=int(MAX_LIFETIME.total_seconds()))


class TokenOut(BaseModel):
    token: str = Field(description="Give it to the user's browser: `Authorization: Bearer <token>`")
    expires_at: datetime
