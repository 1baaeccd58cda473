"""Test send: the draft (or another version) of a template sent for real to one address,
device token or stored user, through the same service as `POST /v1/templates/{key}/test-send`."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from herald.console.pages import AppContext, EditorDep, Page, read_form, render
from herald.console.security import services_of
from herald.kit.channels import Channel
from herald.kit.errors import HeraldError
from herald.templates import testsend
from herald.templates.endpoints import Key
from herald.templates.schemas import TestSendIn, VersionNumber

router = APIRouter(prefix="/apps/{app_id}/templates/{key}/test")
PLATFORMS = [("", "Not a device token"), ("ios", "iOS (an APNs token)"), ("android", "Android (an FCM token)")]


class TestSendForm(BaseModel):
    channel: Channel
    version: Literal["draft", "live"] | VersionNumber = "draft"
    to: str = Field(default="", max_length=4096)
    platform: Literal["", "ios", "android"] = ""
    user_id: str = Field(default="", max_length=200)
    locale: str = Field(default="", max_length=35)


async def _page(
    request: Request, app: AppContext, key: str, form: dict[str, Any], errors: dict[str, str] | None = None,
    sent: uuid.UUID | None = None,
) -> Response:  # fmt: skip
    context = {"tab": "test", "key": key, "form": form, "errors": errors or {}, "sent": sent,
               "channels": [(c.value, c.value) for c in Channel.all()], "platforms": PLATFORMS}  # fmt: skip
    return await render(request, "templates/test_send.html", context, status=422 if errors else 200)


@router.get("")
async def test_form(request: Request, app: EditorDep, key: str = Key) -> Response:
    return await _page(request, app, key, {"version": "draft"})


@router.post("")
async def test_send(request: Request, app: EditorDep, key: str = Key) -> Response:
    form, errors, raw = await read_form(request, TestSendForm)
    if form is None:
        return await _page(request, app, key, raw, errors)
    services = services_of(request)
    body = TestSendIn(
        channel=form.channel, version=form.version, to=form.to.strip() or None, platform=form.platform or None,
        user_id=form.user_id.strip() or None, locale=form.locale.strip() or None,
    )  # fmt: skip
    try:
        sent = await testsend.test_send(services.sessions, services.intake, app.id, key, body)
    except HeraldError as exc:
        field = exc.field if exc.field in TestSendForm.model_fields else "form"
        return await _page(request, app, key, raw, {field: exc.message})
    return await _page(request, app, key, raw, sent=sent.id)


page = Page(router)
