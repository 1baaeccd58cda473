"""Settings > Integrations: the app's provider accounts, through the same service as
/v1/integrations. Credentials go in and never come out: an edit shows them as blank
password fields, and a blank one keeps what is stored."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args, get_origin

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import SecretStr, ValidationError
from starlette.datastructures import FormData

from herald.console.pages import AppContext, NavItem, OwnerDep, Page, ViewerDep, redirect, render
from herald.console.security import services_of
from herald.integrations import service as integrations
from herald.integrations.schemas import IntegrationIn
from herald.kit.errors import HeraldError, NotFound, field_of
from herald.kit.uow import unit_of_work
from herald.providers.registry import KINDS

router = APIRouter(prefix="/apps/{app_id}/settings/integrations")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
# Credentials that span lines (a PEM key, a service account's JSON) get a text area.
_MULTILINE = frozenset({"private_key", "service_account", "ca_pem"})
_FIELD_MAX = 20_000


def fields_of(kind: str) -> list[dict[str, Any]]:
    """The form's controls for a provider kind, from its config model."""
    out = []
    for name, f in KINDS[kind].config.model_fields.items():
        args = [a for a in get_args(f.annotation) if a is not type(None)] or [f.annotation]
        base = args[0]
        control = "text"
        if base is SecretStr:
            control = "secret"
        elif base is bool:
            control = "bool"
        elif get_origin(base) is Literal:
            control = "select"
        elif base in (int, float):
            control = "number"
        default = None if f.is_required() or f.default is None else f.default
        out.append({
            "name": name, "control": control, "required": f.is_required(), "default": default,
            "multiline": name in _MULTILINE, "options": [(o, o) for o in get_args(base)] if control == "select" else [],
        })  # fmt: skip
    return out


def _config(kind: str, form: FormData, kept: dict[str, Any]) -> dict[str, Any]:
    """The config a form describes; a blank credential keeps the stored one (`kept`)."""
    config: dict[str, Any] = {}
    for f in fields_of(kind):
        value = form.get(f"cfg_{f['name']}")
        text = value.strip() if isinstance(value, str) and f["name"] not in _MULTILINE else value
        if f["control"] == "bool":
            config[f["name"]] = text == "true"
        elif isinstance(text, str) and text:
            config[f["name"]] = text[:_FIELD_MAX]
        elif f["control"] == "secret" and f["name"] in kept:
            config[f["name"]] = kept[f["name"]]
    return config


def _body(kind: str, form: FormData, kept: dict[str, Any]) -> IntegrationIn:
    priority = form.get("priority")
    countries = form.get("countries")
    return IntegrationIn(
        kind=kind,
        priority=priority if isinstance(priority, str) and priority.strip() else 0,
        countries=[c.strip() for c in countries.split(",") if c.strip()] if isinstance(countries, str) else [],
        enabled=form.get("enabled") == "true",
        config=_config(kind, form, kept),
    )


def _error_field(field: str | None) -> str:
    if field and field.startswith("config."):
        return "cfg_" + field.removeprefix("config.").split(".")[0]
    return field or "form"


async def _list(request: Request, app: AppContext) -> Response:
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        rows = [integrations.present(i, services.vault) for i in await integrations.list_all(uow, app.id)]
    return await render(request, "settings/integrations.html", {"tab": "integrations", "integrations": rows})


@router.get("")
async def list_integrations(request: Request, app: ViewerDep) -> Response:
    return await _list(request, app)


async def _form(request: Request, app: AppContext, kind: str | None, values: dict[str, Any], **extra: Any) -> Response:
    context = {
        "tab": "integrations", "kinds": sorted(KINDS), "kind": kind, "fields": fields_of(kind) if kind else [],
        "values": values, "errors": {}, "editing": None, **extra,
    }  # fmt: skip
    return await render(request, "settings/integration_form.html", context, status=422 if context["errors"] else 200)


@router.get("/new")
async def new_form(request: Request, app: OwnerDep, kind: str | None = None) -> Response:
    return await _form(request, app, kind if kind in KINDS else None, {"enabled": True, "priority": 0})


async def _save(
    request: Request, app: AppContext, name: str, kind: str, kept: dict[str, Any], editing: str | None
) -> Response:
    form = await request.form()
    values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str) and not _is_secret(kind, k)}
    values["enabled"] = form.get("enabled") == "true"
    services = services_of(request)
    try:
        if not _NAME.match(name):
            raise integrations.InvalidProviderConfig("1 to 32 letters, digits or _ . : -", field="name")
        body = _body(kind, form, kept)
        async with unit_of_work(services.sessions) as uow:
            if editing is None and await _exists(uow, app, name):
                raise integrations.InvalidProviderConfig(f"an integration named {name} exists already", field="name")
            await integrations.put(uow, services.vault, app.id, name, body, services.egress)
    except ValidationError as exc:
        first = exc.errors()[0]
        errors = {_error_field(field_of(first["loc"])): str(first["msg"])}
        return await _form(request, app, kind, values, errors=errors, editing=editing)
    except HeraldError as exc:
        return await _form(request, app, kind, values, errors={_error_field(exc.field): exc.message}, editing=editing)
    services.forget_accounts(app.id)
    return redirect(request, f"/apps/{app.id}/settings/integrations", flash=f"The integration {name} is saved.")


def _is_secret(kind: str, key: str) -> bool:
    return any(f["control"] == "secret" and key == f"cfg_{f['name']}" for f in fields_of(kind))


async def _exists(uow: Any, app: AppContext, name: str) -> bool:
    try:
        await integrations.get(uow, app.id, name)
    except NotFound:
        return False
    return True


@router.post("/new")
async def create(request: Request, app: OwnerDep) -> Response:
    form = await request.form()
    kind, name = form.get("kind"), form.get("name")
    if not isinstance(kind, str) or kind not in KINDS:
        return await _form(request, app, None, {}, errors={"kind": "choose a provider kind"})
    return await _save(request, app, name if isinstance(name, str) else "", kind, {}, None)


@router.get("/{name}/edit")
async def edit_form(request: Request, app: OwnerDep, name: str) -> Response:
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        shown = integrations.present(await integrations.get(uow, app.id, name[:32]), services.vault)
    values: dict[str, Any] = {"name": shown.name, "priority": shown.priority, "enabled": shown.enabled}
    values["countries"] = ", ".join(shown.countries)
    for f in fields_of(shown.kind):
        if f["control"] != "secret" and shown.config.get(f["name"]) is not None:
            values[f"cfg_{f['name']}"] = shown.config[f["name"]]
    return await _form(request, app, shown.kind, values, editing=shown.name)


@router.post("/{name}/edit")
async def update(request: Request, app: OwnerDep, name: str) -> Response:
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        current = await integrations.get(uow, app.id, name[:32])
        kind, kept = current.kind, integrations.opened_config(current, services.vault)
    return await _save(request, app, current.name, kind, kept, current.name)


@router.post("/{name}/delete")
async def delete(request: Request, app: OwnerDep, name: str) -> Response:
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        await integrations.delete(uow, app.id, name[:32])
    services.forget_accounts(app.id)
    return redirect(request, f"/apps/{app.id}/settings/integrations", flash=f"The integration {name} is deleted.")


# The settings pages share one nav entry; this one, the first tab, carries it.
page = Page(router, nav=NavItem("Settings", "settings/integrations"))
