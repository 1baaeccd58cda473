"""End-user engagement reports at the API edge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from herald.tracking.tokens import MAX_URL


class EngagementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["opened", "clicked"]
    url: str | None = Field(default=None, max_length=MAX_URL, description="For a click: what was clicked")


class EngagementOut(BaseModel):
    recorded: bool = Field(
        description="False when the same open (or click of the same URL) was already reported within the minute"
    )
