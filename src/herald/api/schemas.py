"""The error body every 4xx and 5xx answer carries, as named OpenAPI components."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="Stable and machine-readable, e.g. validation_error, user_not_found")
    message: str = Field(description="For a person; may change between versions")
    field: str | None = Field(default=None, description="The culprit, dotted: data.order.total, notifications.3")


class ErrorOut(BaseModel):
    error: ErrorBody
