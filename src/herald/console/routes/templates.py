"""Templates: the app's templates (live and draft-only ones), and a new template's first draft,
through the same service as /v1/templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from herald.console.pages import AppContext, EditorDep, NavItem, Page, ViewerDep, read_form, redirect, render
from herald.console.security import services_of
from herald.kit.errors import HeraldError
from herald.kit.uow import unit_of_work
from herald.templates import service
from herald.templates.schemas import TemplateIn

router = APIRouter(prefix="/apps/{app_id}/templates")


def actor(app: AppContext) -> str:
    """Who a console user's change is recorded as, in a version's history."""
    return f"console:{app.user.email}"


class NewTemplate(BaseModel):
    key: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str = Field(default="", max_length=500)


def _channels(content: dict[str, Any]) -> list[str]:
    found = set(content.get("channels", {}))
    for variant in content.get("locales", {}).values():
        found |= set(variant)
    return sorted(found)


async def _rows(request: Request, app: AppContext) -> list[dict[str, Any]]:
    """One row per template: its live version (if any) and its draft (if any)."""
    async with unit_of_work(services_of(request).sessions) as uow:
        live = await service.list_templates(uow, app.id)
        drafts = {d.key: d for d in await service.drafts(uow, app.id)}
    rows: dict[str, dict[str, Any]] = {}
    for t in live:
        rows[t.key] = {"key": t.key, "description": t.description, "live": t.version, "draft": None,
                       "updated": t.updated_at, "channels": _channels(t.content)}  # fmt: skip
    for key, d in drafts.items():
        row = rows.setdefault(key, {"key": key, "description": d.description, "live": None, "channels": []})
        row["draft"] = d.number
        row["updated"] = max(row["updated"], d.updated_at) if "updated" in row else d.updated_at
        row["channels"] = sorted(set(row["channels"]) | set(_channels(d.content)))
    return [rows[k] for k in sorted(rows)]


async def _list(
    request: Request, app: AppContext, errors: dict[str, str] | None = None, form: dict[str, Any] | None = None
) -> Response:
    context = {"tab": "templates", "rows": await _rows(request, app), "errors": errors or {}, "form": form or {}}
    return await render(request, "templates/list.html", context, status=422 if errors else 200)


@router.get("")
async def list_templates(request: Request, app: ViewerDep) -> Response:
    return await _list(request, app)


@router.post("")
async def new_template(request: Request, app: EditorDep) -> Response:
    form, errors, raw = await read_form(request, NewTemplate)
    if form is None:
        return await _list(request, app, errors, raw)
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            if await service.exists(uow, app.id, form.key):
                return await _list(request, app, {"key": f"a template {form.key} exists already"}, raw)
            body = TemplateIn(description=form.description or None, channels={})
            await service.save_draft(uow, app.id, form.key, body, actor(app))
    except HeraldError as exc:
        return await _list(request, app, {exc.field or "key": exc.message}, raw)
    return redirect(request, f"/apps/{app.id}/templates/{form.key}/edit", flash=f"The template {form.key} is made.")


page = Page(router, nav=NavItem("Templates", "templates"))
