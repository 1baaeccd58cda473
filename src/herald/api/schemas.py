"""The error body every 4xx and 5xx answer carries, as named OpenAPI components; who an end user is."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="Stable and machine-readable, e.g. validation_error, user_not_found")
    message: str = Field(description="For a person; may change between versions")
    field: str | None = Field(default=None, description="The culprit, dotted: data.order.total, notifications.3")


class ErrorOut(BaseModel):
    error: ErrorBody


class MeOut(BaseModel):
    app: str = Field(description="The app's key: the token's issuer")
    user_id: str
    expires_at: datetime = Field(description="When the token expires: fetch a new one from the app before then")
