"""Layouts: the shared email frames templates extend, through the same service as /v1/layouts;
a draft is edited, then published (which updates every live template extending it).

A layout is written in HTML or in MJML (the format choice): the one source box holds either.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from herald.console.pages import AppContext, EditorDep, Page, ViewerDep, read_form, redirect, render
from herald.console.routes.templates import actor
from herald.console.security import services_of
from herald.kit.errors import DraftNotFound, HeraldError, NotFound
from herald.kit.uow import unit_of_work
from herald.templates import layouts
from herald.templates.endpoints import Key
from herald.templates.schemas import LayoutIn

router = APIRouter(prefix="/apps/{app_id}/layouts")
STARTER = "<html>\n<body>\n  {% block content %}{% endblock %}\n</body>\n</html>\n"


class LayoutForm(BaseModel):
    description: str = Field(default="", max_length=500)
    format: Literal["html", "mjml"] = "html"
    html: str = Field(min_length=1, max_length=512_000)

    def layout(self) -> LayoutIn:
        return LayoutIn.model_validate({"description": self.description or None, self.format: self.html})


def _errors(exc: HeraldError) -> dict[str, str]:
    """The service's error by control: the source box holds the html or the mjml."""
    return {"html" if exc.field in (None, "mjml") else exc.field: exc.message}


class NewLayout(LayoutForm):
    key: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")


async def _list(request: Request, app: AppContext, errors: dict[str, str] | None = None,
                form: dict[str, Any] | None = None) -> Response:  # fmt: skip
    async with unit_of_work(services_of(request).sessions) as uow:
        rows: dict[str, dict[str, Any]] = {}
        for lay in await layouts.list_layouts(uow, app.id):
            rows[lay.key] = {"key": lay.key, "description": lay.description, "live": lay.version, "draft": None,
                             "updated": lay.updated_at}  # fmt: skip
        for d in await layouts.drafts(uow, app.id):
            row = rows.setdefault(d.key, {"key": d.key, "description": d.description, "live": None})
            row["draft"] = d.number
            row["updated"] = max(row["updated"], d.updated_at) if "updated" in row else d.updated_at
    context = {"tab": "layouts", "rows": [rows[k] for k in sorted(rows)], "errors": errors or {},
               "form": form or {"html": STARTER}}  # fmt: skip
    return await render(request, "templates/layouts.html", context, status=422 if errors else 200)


@router.get("")
async def list_layouts(request: Request, app: ViewerDep) -> Response:
    return await _list(request, app)


@router.post("")
async def new_layout(request: Request, app: EditorDep) -> Response:
    form, errors, raw = await read_form(request, NewLayout)
    if form is None:
        return await _list(request, app, errors, raw)
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            if await layouts.exists(uow, app.id, form.key):
                return await _list(request, app, {"key": f"a layout {form.key} exists already"}, raw)
            await layouts.save_draft(uow, app.id, form.key, form.layout(), actor(app))
    except HeraldError as exc:
        return await _list(request, app, _errors(exc), raw)
    return redirect(request, f"/apps/{app.id}/layouts/{form.key}", flash=f"The layout {form.key} is saved as a draft.")


async def _editor(request: Request, app: AppContext, key: str, form: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None) -> Response:  # fmt: skip
    async with unit_of_work(services_of(request).sessions) as uow:
        try:
            draft = await layouts.version_of(uow, app.id, key, "draft")
        except DraftNotFound:
            draft = None
        live = await layouts.version_of(uow, app.id, key, "live") if draft is None else None
    shown = draft or live
    assert shown is not None
    written = "mjml" if "mjml" in shown.content else "html"
    form = form or {"description": shown.description or "", "format": written, "html": shown.content[written]}
    context = {"tab": "layouts", "key": key, "draft": draft, "shown": shown, "form": form, "errors": errors or {}}
    return await render(request, "templates/layout_editor.html", context, status=422 if errors else 200)


@router.get("/{key}")
async def edit(request: Request, app: ViewerDep, key: str = Key) -> Response:
    return await _editor(request, app, key)


@router.post("/{key}")
async def save_draft(request: Request, app: EditorDep, key: str = Key) -> Response:
    form, errors, raw = await read_form(request, LayoutForm)
    if form is None:
        return await _editor(request, app, key, raw, errors)
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            if not await layouts.exists(uow, app.id, key):
                raise NotFound(f"layout {key!r} does not exist")
            await layouts.save_draft(uow, app.id, key, form.layout(), actor(app))
    except HeraldError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _editor(request, app, key, raw, _errors(exc))
    return redirect(request, f"/apps/{app.id}/layouts/{key}", flash="The layout's draft is saved.")


@router.post("/{key}/publish")
async def publish(request: Request, app: EditorDep, key: str = Key) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        layout = await layouts.publish(uow, app.id, key, actor(app))
        number = layout.version
    flash = f"Version {number} of the layout is live, in every live template extending it."
    return redirect(request, f"/apps/{app.id}/layouts/{key}", flash=flash)


@router.post("/{key}/discard")
async def discard(request: Request, app: EditorDep, key: str = Key) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        await layouts.discard_draft(uow, app.id, key)
        still = await layouts.exists(uow, app.id, key)
    return redirect(request, f"/apps/{app.id}/layouts" + (f"/{key}" if still else ""), flash="The draft is discarded.")


page = Page(router)
