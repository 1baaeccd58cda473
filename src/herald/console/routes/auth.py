"""Signing in and out. One answer for every failed sign-in, whether the email exists or not;
a lock (per email, per client address) says so, with how long it lasts."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from herald.console import service
from herald.console.errors import LoginFailed, LoginLocked
from herald.console.pages import Page, redirect, render
from herald.console.passwords import MAX_LENGTH
from herald.console.security import secure, services_of, session_cookie, set_cookie, signed_in
from herald.kit.uow import unit_of_work

router = APIRouter()


def _safe_next(value: str) -> str:
    """Only a path inside the console: `next` must not send the user to another site."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) <= 500:
        return value
    return "/"


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    if await signed_in(request) is not None:
        return redirect(request, _safe_next(next))
    return await render(request, "login.html", {"next": _safe_next(next), "email": "", "problem": None})


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=service.EMAIL_MAX)] = "",
    password: Annotated[str, Form(max_length=MAX_LENGTH * 4)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    services = services_of(request)
    address = request.client.host if request.client is not None else "unknown"
    async with unit_of_work(services.sessions) as uow:
        outcome = await service.sign_in(uow.session, services.settings.console, email, password, address)
    if isinstance(outcome, service.Refused):
        if outcome.retry_after is not None:
            wait = outcome.retry_after.total_seconds()
            problem = f"{LoginLocked.__doc__} Try again in {_minutes(wait)}."
            status = 429
        else:
            problem, status = LoginFailed().message, 401
        context = {"next": _safe_next(next), "email": email, "problem": problem}
        return await render(request, "login.html", context, status=status)
    response = redirect(request, _safe_next(next), flash="You are signed in.")
    lifetime = int(services.settings.console.session_lifetime.total_seconds())
    set_cookie(request, response, session_cookie(request), outcome.token, max_age=lifetime)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    who = await signed_in(request)
    if who is not None:
        async with unit_of_work(services_of(request).sessions) as uow:
            await service.sign_out(uow.session, who.session_id)
    response = redirect(request, "/login", flash="You are signed out.")
    response.delete_cookie(session_cookie(request), path="/", secure=secure(request), httponly=True, samesite="lax")
    return response


page = Page(router)
