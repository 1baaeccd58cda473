"""Users: find one of the app's users by id; their page shows their contacts, devices,
preferences (editable), suppressed addresses (removable) and recent notifications, and
deletes them after a confirmation. Changes need the editor role. The services of /v1/users.

A user id with a "/" cannot be a path segment here (the path is decoded before routing):
such a user is found through Activity's user filter and the API.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from herald.apps import service as apps
from herald.apps.schemas import CATEGORY_KEY
from herald.console.pages import AppContext, EditorDep, NavItem, Page, ViewerDep, redirect, render
from herald.console.security import services_of
from herald.kit.channels import Channel
from herald.kit.errors import HeraldError, UserNotFound
from herald.kit.uow import unit_of_work
from herald.notifications import service as notifications
from herald.notifications.search import Search
from herald.preferences import service as preferences
from herald.preferences.schemas import CategoryPreference, PreferencesDoc
from herald.recipients import repository as recipients_repository
from herald.recipients import service as recipients

router = APIRouter(prefix="/apps/{app_id}/users")
RECENT = 20
MAX_CATEGORIES = 200
SETTINGS = [("", "Default"), ("on", "On"), ("off", "Off")]
_KEY = re.compile(CATEGORY_KEY)
# As the API bounds it; a NUL is refused before it reaches PostgreSQL.
UserId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]


def _user_path(app: AppContext, user_id: str) -> str:
    return f"/apps/{app.id}/users/{quote(user_id, safe='')}"


@router.get("")
async def find_user(request: Request, app: ViewerDep) -> Response:
    user_id = request.query_params.get("user_id", "").strip()
    errors: dict[str, str] = {}
    if user_id:
        if len(user_id) > 200 or "/" in user_id or "\x00" in user_id:
            errors["user_id"] = "a user id of at most 200 characters, without /"
        else:
            try:
                async with unit_of_work(services_of(request).sessions) as uow:
                    await recipients.require_user(uow, app.id, user_id)
                return redirect(request, _user_path(app, user_id))
            except UserNotFound:
                errors["user_id"] = f"{app.name} has no user {user_id!r}"
    context = {"errors": errors, "form": {"user_id": user_id}}
    return await render(request, "users/find.html", context, status=422 if errors else 200)


async def _user_context(request: Request, app: AppContext, user_id: str) -> dict[str, Any]:
    async with unit_of_work(services_of(request).sessions) as uow:
        user = await recipients.require_user(uow, app.id, user_id)
        devices = await recipients_repository.list_devices(uow.session, app.id, user_id)
        doc = await preferences.get_preferences(uow, app.id, user_id)
        suppressed = await recipients.suppressions(uow, app.id, user_id)
        catalogue = (await apps.get_settings(uow.session, app.id)).categories
        recent, _ = await notifications.list_notifications(
            uow, app.id, Search(user_id=user_id), limit=RECENT, cursor=None
        )
    known = [c.key for c in catalogue]
    categories = known + sorted(k for k in doc.categories if k not in known)
    return {
        "u": user,
        "devices": devices,
        "prefs": doc,
        "categories": categories,
        "channels": Channel.names(),
        "settings": SETTINGS,
        "suppressed": suppressed,
        "recent": recent,
        "here": _user_path(app, user_id),
    }


def _setting(value: bool | None) -> str:
    return "" if value is None else "on" if value else "off"


@router.get("/{user_id}")
async def user_page(request: Request, app: ViewerDep, user_id: UserId) -> Response:
    context = await _user_context(request, app, user_id)
    return await render(request, "users/user.html", context | {"setting": _setting, "errors": {}})


def _on(form: FormData, name: str) -> bool | None:
    value = form.get(name)
    return True if value == "on" else False if value == "off" else None


def _preferences(form: FormData) -> tuple[PreferencesDoc | None, str | None]:
    """The preference grid's form as the document the API's PUT takes."""
    doc = PreferencesDoc()
    for ch in Channel.names():
        if (on := _on(form, f"channel-{ch}")) is not None:
            doc.channels[Channel(ch)] = on
    keys = [(str(i), form.get(f"category-{i}")) for i in range(MAX_CATEGORIES)]
    new = form.get("new-category")
    if isinstance(new, str) and new.strip():
        keys.append(("new", new.strip()))
    for i, key in keys:
        if not isinstance(key, str):
            continue
        if len(key) > 100 or not _KEY.match(key):
            return None, f"{key[:100]!r} is not a category key (letters, digits, _ . : -)"
        pref = CategoryPreference(enabled=_on(form, f"category-{i}-any"))
        pref.channels = {
            Channel(ch): on for ch in Channel.names() if (on := _on(form, f"category-{i}-{ch}")) is not None
        }
        if pref.enabled is not None or pref.channels:
            doc.categories[key] = pref
    return doc, None


@router.post("/{user_id}/preferences")
async def save_preferences(request: Request, app: EditorDep, user_id: UserId) -> Response:
    doc, error = _preferences(await request.form())
    if doc is None:
        return redirect(request, _user_path(app, user_id), flash=f"Nothing saved: {error}.", kind="error")
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        await preferences.replace_preferences(uow, services.cache, app.id, user_id, doc)
    return redirect(request, _user_path(app, user_id), flash="The preferences are saved.")


@router.post("/{user_id}/suppressions/remove")
async def remove_suppression(request: Request, app: EditorDep, user_id: UserId) -> Response:
    form = await request.form()
    channel, address = form.get("channel"), form.get("address")
    if not isinstance(channel, str) or not isinstance(address, str):
        return redirect(request, _user_path(app, user_id), flash="Say which address to lift.", kind="error")
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            await recipients.remove_suppression(uow, app.id, user_id, channel[:16], address[:320])
    except HeraldError as exc:
        if isinstance(exc, UserNotFound):
            raise
        return redirect(request, _user_path(app, user_id), flash=exc.message, kind="error")
    return redirect(request, _user_path(app, user_id), flash=f"{address} is no longer suppressed for {channel}.")


@router.get("/{user_id}/delete")
async def confirm_delete(request: Request, app: EditorDep, user_id: UserId) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        user = await recipients.require_user(uow, app.id, user_id)
    return await render(request, "users/delete.html", {"u": user, "here": _user_path(app, user_id)})


@router.post("/{user_id}/delete")
async def delete_user(request: Request, app: EditorDep, user_id: UserId) -> Response:
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        await recipients.delete_user(uow, services.cache, app.id, user_id)
    return redirect(
        request, f"/apps/{app.id}/users", flash=f"The user {user_id} is deleted; the log keeps only the id."
    )


page = Page(router, nav=NavItem("Users", "users"))
