"""A template's editor: its draft, per channel and per locale side by side, with a preview
that follows the typing (htmx posts the unsaved form to the preview service, the same one as
`POST /v1/templates/{key}/preview`) and its problems; save draft, publish, discard.

Editing starts from the draft, else from the live version (saving then makes the draft).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from herald.console import editing
from herald.console.pages import AppContext, EditorDep, Page, ViewerDep, redirect, render
from herald.console.routes.templates import actor
from herald.console.security import services_of
from herald.kit.errors import DraftNotFound, HeraldError, NotFound, TemplateNotFound
from herald.kit.uow import UnitOfWork, unit_of_work
from herald.templates import layouts, service
from herald.templates import preview as previews
from herald.templates.endpoints import Key
from herald.templates.models import Version
from herald.templates.schemas import PreviewIn, PreviewOut

router = APIRouter(prefix="/apps/{app_id}/templates/{key}")


async def _current(uow: UnitOfWork, app: AppContext, key: str) -> tuple[Version | None, Version | None]:
    """(the draft, the live version); a template with neither is a 404."""
    try:
        draft: Version | None = await service.version_of(uow, app.id, key, "draft")
    except DraftNotFound:
        draft = None
    live = None
    try:
        live = await service.version_of(uow, app.id, key, "live")
    except HeraldError:
        if draft is None:
            raise
    return draft, live


async def _editor(
    request: Request, app: AppContext, key: str, form: editing.EditorForm | None = None,
    errors: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    async with unit_of_work(services_of(request).sessions) as uow:
        draft, live = await _current(uow, app, key)
        layout_keys = [lay.key for lay in await layouts.list_layouts(uow, app.id)]
    shown = draft or live
    assert shown is not None
    if form is None:
        form = editing.from_version(shown.description, shown.default_locale, shown.content)
    if form.layout and form.layout not in layout_keys:
        layout_keys.append(form.layout)
    context: dict[str, Any] = {
        "tab": "edit", "key": key, "draft": draft, "live": live, "form": form, "errors": errors or {},
        "channels": [(c, editing.controls(c)) for c in editing.channels()], "layouts": layout_keys,
        "control_id": editing.control_id,
    }  # fmt: skip
    return await render(request, "templates/editor.html", context, status=422 if errors else 200)


@router.get("/edit")
async def edit(request: Request, app: ViewerDep, key: str = Key) -> Response:
    return await _editor(request, app, key)


@router.post("/edit")
async def save_draft(request: Request, app: EditorDep, key: str = Key) -> Response:
    form = editing.read(await request.form())
    body, errors = editing.to_template(form)
    if body is None:
        return await _editor(request, app, key, form, errors)
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            await _current(uow, app, key)  # a key nobody made is a 404, not a new template
            await service.save_draft(uow, app.id, key, body, actor(app))
    except HeraldError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _editor(request, app, key, form, {editing.id_of(exc.field): exc.message})
    saved = "The draft is saved; sends use the live version until it is published."
    return redirect(request, f"/apps/{app.id}/templates/{key}/edit", flash=saved)


@router.post("/preview")
async def preview(request: Request, app: ViewerDep, key: str = Key) -> Response:
    """The unsaved form rendered (a fragment for htmx); form errors are problems too."""
    form = editing.read(await request.form())
    body, errors = editing.to_template(form)
    out: PreviewOut | None = None
    if body is not None:
        try:
            async with unit_of_work(services_of(request).sessions) as uow:
                await _current(uow, app, key)
                out = await previews.preview(uow, services_of(request).cache, app.id, key, PreviewIn(template=body))
        except HeraldError as exc:
            if isinstance(exc, NotFound):
                raise
            errors = {editing.id_of(exc.field): exc.message}
    context = {"key": key, "out": out, "errors": errors, "control_id": editing.control_id, "id_of": editing.id_of}
    return await render(request, "templates/preview.html", context)


@router.post("/publish")
async def publish(request: Request, app: EditorDep, key: str = Key) -> Response:
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            if not await service.exists(uow, app.id, key):
                raise TemplateNotFound(f"template {key!r} does not exist")
            t = await service.publish(uow, app.id, key, actor(app))
            number = t.version
    except HeraldError as exc:
        if isinstance(exc, NotFound) and not isinstance(exc, DraftNotFound):
            raise
        to = f"/apps/{app.id}/templates/{key}/edit"
        return redirect(request, to, flash=f"Not published: {exc.message}", kind="error")
    return redirect(request, f"/apps/{app.id}/templates/{key}/history", flash=f"Version {number} is live.")


@router.post("/discard")
async def discard(request: Request, app: EditorDep, key: str = Key) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        await service.discard_draft(uow, app.id, key)
        has_live = await service.exists(uow, app.id, key)
    to = f"/apps/{app.id}/templates/{key}/edit" if has_live else f"/apps/{app.id}/templates"
    return redirect(request, to, flash="The draft is discarded.")


page = Page(router)
