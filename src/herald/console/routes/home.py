"""The start page (the apps one is a member of), an app's overview, and one's own account."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from herald.console import service
from herald.console.pages import Page, UserDep, ViewerDep, read_form, redirect, render
from herald.console.passwords import MAX_LENGTH
from herald.console.security import services_of, session_cookie, set_cookie
from herald.kit.errors import ValidationFailed
from herald.kit.uow import unit_of_work

router = APIRouter()


@router.get("/")
async def home(request: Request, user: UserDep) -> Response:
    if len(user.apps) == 1:
        return redirect(request, f"/apps/{user.apps[0].id}/")
    return await render(request, "home.html")


@router.get("/apps/{app_id}/")
async def overview(request: Request, app: ViewerDep) -> Response:
    return await render(request, "app.html")


@router.get("/account")
async def account(request: Request, user: UserDep) -> Response:
    return await render(request, "account.html", {"errors": {}})


class PasswordChange(BaseModel):
    current: str = Field(min_length=1, max_length=MAX_LENGTH)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


@router.post("/account/password")
async def change_password(request: Request, user: UserDep) -> Response:
    form, errors, _ = await read_form(request, PasswordChange)
    services = services_of(request)
    opened = None
    if form is not None:
        try:
            async with unit_of_work(services.sessions) as uow:
                if await service.change_password(uow.session, user.user_id, form.current, form.password):
                    user_row = await service.user_by_email(uow.session, user.email)
                    opened = await service.open_session(uow.session, services.settings.console, user_row)
                else:
                    errors = {"current": "That is not your current password."}
        except ValidationFailed as exc:
            errors = {exc.field or "password": exc.message}
    if opened is None:
        return await render(request, "account.html", {"errors": errors}, status=422)
    response = redirect(request, "/account", flash="Your password is changed; other browsers are signed out.")
    lifetime = int(services.settings.console.session_lifetime.total_seconds())
    set_cookie(request, response, session_cookie(request), opened.token, max_age=lifetime)
    return response


page = Page(router)
