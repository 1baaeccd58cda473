"""Settings > Members: who may do what in the app. Owners add an existing console user by
email, change roles and remove members; the last owner stays."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from herald.console import service
from herald.console.pages import AppContext, OwnerDep, Page, ViewerDep, read_form, redirect, render
from herald.console.schemas import Role
from herald.console.security import services_of
from herald.kit.errors import HeraldError
from herald.kit.uow import unit_of_work

router = APIRouter(prefix="/apps/{app_id}/settings/members")
ROLES = [(r.value, r.value.capitalize()) for r in reversed(Role)]


class MemberIn(BaseModel):
    email: str = Field(min_length=3, max_length=service.EMAIL_MAX)
    role: Role = Role.VIEWER


class RoleIn(BaseModel):
    role: Role


async def _page(
    request: Request, app: AppContext, errors: dict[str, str] | None = None, raw: dict[str, str] | None = None
) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        members = await service.members(uow.session, app.id)
    context = {"tab": "members", "members": members, "roles": ROLES, "errors": errors or {}, "form": raw or {}}
    return await render(request, "settings/members.html", context, status=422 if errors else 200)


@router.get("")
async def list_members(request: Request, app: ViewerDep) -> Response:
    return await _page(request, app)


@router.post("")
async def add_member(request: Request, app: OwnerDep) -> Response:
    form, errors, raw = await read_form(request, MemberIn)
    if form is not None:
        try:
            async with unit_of_work(services_of(request).sessions) as uow:
                added = await service.add_member(uow.session, app.id, form.email, form.role)
            return redirect(request, _here(app), flash=f"{added.email} is now {added.role.value} of {app.name}.")
        except HeraldError as exc:
            errors = {exc.field or "email": exc.message}
    return await _page(request, app, errors, raw)


@router.post("/{user_id}/role")
async def change_role(request: Request, app: OwnerDep, user_id: uuid.UUID) -> Response:
    form, errors, _ = await read_form(request, RoleIn)
    if form is None:
        return await _page(request, app, errors)
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            await service.set_role(uow.session, app.id, user_id, form.role)
    except HeraldError as exc:
        return redirect(request, _here(app), flash=exc.message, kind="error")
    return redirect(request, _here(app), flash=f"The role is now {form.role.value}.")


@router.post("/{user_id}/remove")
async def remove_member(request: Request, app: OwnerDep, user_id: uuid.UUID) -> Response:
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            await service.remove_member(uow.session, app.id, user_id)
    except HeraldError as exc:
        return redirect(request, _here(app), flash=exc.message, kind="error")
    return redirect(request, _here(app), flash="The member is removed.")


def _here(app: AppContext) -> str:
    return f"/apps/{app.id}/settings/members"


page = Page(router)
