"""Preference documents: what a user turned off, by channel, category, or both."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from herald.kit.channels import Channel


class CategoryPreference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(default=None, description="The whole category on or off")
    channels: dict[Channel, bool] = Field(default_factory=dict, description="Per channel within the category")


class PreferencesDoc(BaseModel):
    """PUT replaces the user's whole preference set with this document."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[Channel, bool] = Field(default_factory=dict)
    categories: dict[str, CategoryPreference] = Field(default_factory=dict)
