"""Settings > App secrets: the app's key and secret (rotated like `herald apps rotate-secret`),
and the key its backend signs end users' tokens with. A new secret is shown once, in the
answer to the rotation, and never stored anywhere but as its hash."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from herald.api.auth import Authenticator
from herald.apps import service as apps
from herald.apps.schemas import AppOut
from herald.console.pages import OwnerDep, Page, ViewerDep, read_form, render
from herald.console.security import services_of
from herald.kit.clock import utcnow
from herald.kit.uow import unit_of_work

router = APIRouter(prefix="/apps/{app_id}/settings/secrets")
OVERLAPS = [("0", "Stop at once (a leaked secret)"), ("3600", "1 hour"), ("86400", "24 hours"), ("604800", "7 days")]
Overlap = Literal["0", "3600", "86400", "604800"]


class RotateIn(BaseModel):
    overlap: Overlap = "86400"


def _authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


@router.get("")
async def show(request: Request, app: ViewerDep) -> Response:
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        shown = AppOut.of(await apps.get_app(uow.session, str(app.id)), utcnow())
    return await render(request, "settings/secrets.html", {"tab": "secrets", "shown": shown, "overlaps": OVERLAPS})


@router.post("/rotate")
async def rotate(request: Request, app: OwnerDep) -> Response:
    form, _, _ = await read_form(request, RotateIn)
    overlap = timedelta(seconds=int(form.overlap if form is not None else "86400"))
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        rotation = await apps.rotate_secret(uow.session, str(app.id), services.pepper, overlap)
    _authenticator(request).forget_app(rotation.key)
    return await render(request, "settings/secret_shown.html", {"tab": "secrets", "rotation": rotation})


@router.post("/rotate-end-user-key")
async def rotate_end_user_key(request: Request, app: OwnerDep) -> Response:
    form, _, _ = await read_form(request, RotateIn)
    # An end-user token lives at most a day: a longer overlap is cut to that.
    overlap = min(timedelta(seconds=int(form.overlap if form is not None else "3600")), apps.END_USER_OVERLAP_MAX)
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        key = await apps.rotate_end_user_key(uow.session, services.vault, app.id, overlap)
    _authenticator(request).forget_app(key.issuer)
    context = {"tab": "secrets", "end_user_until": key.previous_valid_until}
    return await render(request, "settings/end_user_key_rotated.html", context)


page = Page(router)
