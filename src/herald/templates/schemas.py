"""Template shapes: per-channel content and per-locale variants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from herald.channels.registry import Contents
from herald.kit.jsonvalues import JsonObject

SAMPLE_DATA_MAX_BYTES = 16_384


class TrackingOptions(BaseModel):
    """Engagement tracking in this template's email (when the deployment has it on)."""

    model_config = ConfigDict(extra="forbid")

    opens: bool = Field(default=True, description="An open pixel in the HTML part")
    clicks: bool = Field(
        default=True,
        description='Click-through links in the HTML part; one link opts out with `data-herald-track="off"`',
    )


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500)
    default_locale: str = Field(default="en", max_length=35)
    channels: Contents
    locales: dict[str, Contents] = Field(default_factory=dict)
    tracking: TrackingOptions | None = Field(default=None, description="Unset: opens and clicks tracked")
    sample_data: JsonObject | None = Field(
        default=None,
        description="An example of a notification's `data` (it may also hold `user` and `notification`): "
        f"every template is trial-rendered with it when saved. At most {SAMPLE_DATA_MAX_BYTES:,} bytes of JSON",
    )

    @field_validator("sample_data")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Stored in the template's content, which every send of the template reads.
        try:
            size = len(orjson.dumps(value))
        except orjson.JSONEncodeError as exc:
            raise ValueError(f"sample_data is not plain JSON: {exc}") from exc
        if size > SAMPLE_DATA_MAX_BYTES:
            raise ValueError(f"sample_data is {size:,} bytes of JSON; at most {SAMPLE_DATA_MAX_BYTES:,}")
        return value


class TemplateOut(TemplateIn):
    key: str
    version: int
    created_at: datetime
    updated_at: datetime
