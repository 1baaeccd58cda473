"""Template shapes: per-channel content and per-locale variants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from herald.channels.registry import Contents
from herald.kit.bounds import INT32_MAX
from herald.kit.channels import Channel
from herald.kit.jsonvalues import JsonObject
from herald.templates.limits import MJML_MAX_CHARS

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


VersionNumber = Annotated[int, Field(ge=1, le=INT32_MAX)]
# Which version an operation reads: the draft, the live one, or a number.
Which = Literal["draft", "live"] | VersionNumber


class VersionInfo(BaseModel):
    """One version's place in the history: who made it, who published it."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    state: Literal["draft", "published", "archived"]
    description: str | None
    restored_from: int | None = Field(description="The version this one was restored from")
    created_at: datetime
    created_by: str = Field(description="Who made it: `app:<key>` from the API, `console:<email>` from the console")
    updated_at: datetime
    updated_by: str
    published_at: datetime | None
    published_by: str | None


class TemplateVersionOut(VersionInfo, TemplateIn):
    key: str


class FieldDiff(BaseModel):
    field: str = Field(description="A dotted field: `channels.email.subject`, `locales.fr.sms.text`, `description`")
    diff: str = Field(description="A unified diff of the field's text, from the first version to the second")


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    fields: list[FieldDiff]


class LayoutIn(BaseModel):
    """A shared email frame: an email's html extends it with `{% extends "<key>" %}` and fills its blocks.

    Written in html, or in MJML for emails written in MJML (`mjml`): one of the two.
    """

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500)
    html: str | None = Field(
        default=None, min_length=1, max_length=512_000, description="Jinja html with `{% block %}`s to fill"
    )
    mjml: str | None = Field(
        default=None,
        min_length=1,
        max_length=MJML_MAX_CHARS,
        description="Instead of `html`: Jinja MJML with `{% block %}`s, for emails whose `mjml` extends it",
    )

    @model_validator(mode="after")
    def _one_source(self) -> LayoutIn:
        if (self.html is None) == (self.mjml is None):
            raise ValueError("a layout has html or mjml: one of the two")
        return self

    def source(self) -> tuple[str, str]:
        """(field, source): the layout as written, in html or in MJML."""
        return ("mjml", self.mjml) if self.mjml is not None else ("html", self.html or "")


class LayoutOut(LayoutIn):
    key: str
    version: int
    created_at: datetime
    updated_at: datetime


class LayoutVersionOut(VersionInfo, LayoutIn):
    key: str


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Which = Field(default="draft", description="`draft` (the default), `live`, or a version's number")
    template: TemplateIn | None = Field(
        default=None, description="Content not saved yet (a console's preview as one types): `version` is then ignored"
    )
    data: JsonObject | None = Field(default=None, description="The variables; unset: the template's `sample_data`")
    user_id: str | None = Field(default=None, min_length=1, max_length=200, description="Render for a stored user")


class Problem(BaseModel):
    kind: Literal["undefined_variable", "limit", "render_error", "invalid_template", "invalid_mjml"]
    field: str | None
    message: str
    names: list[str] = Field(default_factory=list, description="The undefined variables' names")


class SmsInfo(BaseModel):
    encoding: Literal["gsm7", "ucs2"]
    units: int
    segments: int


class PushInfo(BaseModel):
    bytes: int = Field(description="The payload's size with the providers' envelope")
    limit: int = Field(description="What APNs, FCM and web push accept (4 KB)")


class PreviewMessage(BaseModel):
    locale: str | None = Field(description="None: the default content")
    channel: Channel
    rendered: dict[str, Any] | None = Field(description="None when it could not be rendered (see problems)")
    problems: list[Problem]
    sms: SmsInfo | None = None
    push: PushInfo | None = None


class PreviewOut(BaseModel):
    version: int | None = Field(description="The version rendered; None for content not saved")
    messages: list[PreviewMessage]
    problems: int = Field(description="The problems found, in all messages")


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    version: Which = Field(default="draft")
    to: str | None = Field(
        default=None,
        max_length=4096,
        description="An email address, a phone number, or for push a device token (with `platform`)",
    )
    platform: Literal["ios", "android"] | None = Field(
        default=None, description="Push to a device token in `to`: the APNs (ios) or FCM (android) token's platform"
    )
    user_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="A stored user's addresses and devices instead"
    )
    locale: str | None = Field(default=None, max_length=35)
    data: JsonObject | None = Field(default=None, description="The variables; unset: the template's `sample_data`")
