"""App shapes at the edge (`herald apps ... --json`, and what an app reads and sets of itself
on the API): never a secret or a hash, except the secret a create or a rotation hands out
once, and the end-user key, which the app itself may read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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


# A category is named as a notification names it (notifications.schemas), and fits its column.
CATEGORY_KEY = r"^[A-Za-z0-9_.:-]+$"
CATEGORY_KEY_MAX = 100
# A page a person reads through: more categories than this is no longer a choice anyone makes.
MAX_CATEGORIES = 100
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CategoryDef(BaseModel):
    """One category of your notifications, as your users' preference page lists it."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        min_length=1, max_length=CATEGORY_KEY_MAX, pattern=CATEGORY_KEY, description="As notifications name it"
    )
    name: Label = Field(description="What the page calls it")
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    critical: bool = Field(
        default=False, description="Shown locked on the page: such messages are always sent, users cannot turn them off"
    )


class Branding(BaseModel):
    """How your users' preference page looks."""

    model_config = ConfigDict(extra="forbid")

    name: Label | None = Field(default=None, description="The name the page shows (default: the app's name)")
    colour: Annotated[str, StringConstraints(to_lower=True, pattern=r"^#[0-9a-fA-F]{6}$")] | None = Field(
        default=None,
        description="The page's accent colour, #rrggbb; its text is black or white, whichever contrasts more",
    )


class AppSettingsDoc(BaseModel):
    """What an app sets for itself. PUT replaces it whole: what is left out is cleared."""

    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[Annotated[str, Field(min_length=1, max_length=MAX_ORIGIN)]] = Field(
        max_length=MAX_ORIGINS,
        description="Web origins (https://host[:port]) whose pages may call the end-user API with your tokens",
    )
    categories: list[CategoryDef] = Field(
        default_factory=list,
        max_length=MAX_CATEGORIES,
        description="The categories your users' preference page lists, in this order",
    )
    branding: Branding = Field(default_factory=Branding)

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[CategoryDef]) -> list[CategoryDef]:
        keys = [c.key for c in value]
        if len(set(keys)) != len(keys):
            raise ValueError("each category key is listed once")
        return value


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int = Field(default=3600, ge=60, le=int(MAX_LIFETIME.total_seconds()))


class TokenOut(BaseModel):
    token: str = Field(description="Give it to the user's browser: `Authorization: Bearer <token>`")
    expires_at: datetime
