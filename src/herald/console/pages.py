"""The kit every console page is built with: who is signed in, the current app at a least
role (FastAPI dependencies), `render()` with the CSRF token and the nav in its context,
redirects with a flash message, and reading a form into a pydantic model.

A page module declares `page = Page(router, nav=NavItem(...))`; see the package docstring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, get_origin

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ValidationError

from herald.console.errors import LoginRequired
from herald.console.schemas import Role, SignedIn
from herald.console.security import CSRF_FIELD, attach_anonymous_cookie, csrf_token, services_of, set_cookie, signed_in
from herald.kit.errors import Forbidden, NotFound, field_of

M = TypeVar("M", bound=BaseModel)
FLASH_COOKIE = "herald_console_flash"
# The main nav, in its order: a label no page has registered yet shows as "coming soon".
MAIN_NAV = ("Templates", "Activity", "Dead letters", "Users", "Queues", "Analytics", "Settings")

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("herald.console", "views"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


@dataclass(frozen=True, slots=True)
class NavItem:
    """A page's entry in an app's nav: `path` is below /console/apps/{app_id}/."""

    label: str
    path: str
    role: Role = Role.VIEWER


@dataclass(frozen=True, slots=True)
class Page:
    router: APIRouter
    nav: NavItem | None = None


@dataclass(frozen=True, slots=True)
class AppContext:
    """The app a page is about, and the role of the person looking at it."""

    id: uuid.UUID
    name: str
    role: Role
    user: SignedIn

    def may(self, role: str) -> bool:
        return self.role.allows(Role(role))


async def current_user(request: Request) -> SignedIn:
    who = await signed_in(request)
    if who is None:
        raise LoginRequired()
    return who


UserDep = Annotated[SignedIn, Depends(current_user)]


def app_with_role(needed: Role) -> Any:
    """A dependency: the app of the path's `app_id`, if the user is a member with at least
    `needed`. Not a member: 404, as for an app that does not exist (existence is not told)."""

    async def dependency(request: Request, app_id: uuid.UUID, user: UserDep) -> AppContext:
        member = user.app(app_id)
        if member is None:
            raise NotFound("there is no such app, or you are not a member of it")
        context = AppContext(member.id, member.name, member.role, user)
        request.state.console_app = context
        if not member.role.allows(needed):
            raise Forbidden(f"this needs the {needed.value} role in {member.name}; you are {member.role.value}")
        return context

    return Depends(dependency)


ViewerDep = Annotated[AppContext, app_with_role(Role.VIEWER)]
EditorDep = Annotated[AppContext, app_with_role(Role.EDITOR)]
OwnerDep = Annotated[AppContext, app_with_role(Role.OWNER)]


def root(request: Request) -> str:
    """Where the console is mounted (/console): every link is built on it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _nav(request: Request, app: AppContext | None) -> list[dict[str, Any]]:
    if app is None:
        return []
    registered: list[NavItem] = request.app.state.nav
    by_label = {n.label: n for n in registered}
    labels = list(MAIN_NAV) + [n.label for n in registered if n.label not in MAIN_NAV]
    base = f"{root(request)}/apps/{app.id}/"
    out: list[dict[str, Any]] = []
    for label in labels:
        item = by_label.get(label)
        if item is None:
            out.append({"label": label, "href": None})
        elif app.role.allows(item.role):
            href = base + item.path
            section = base + item.path.split("/")[0]
            out.append({"label": label, "href": href, "current": request.url.path.startswith(section)})
    return out


def _flash_key(request: Request) -> bytes:
    return hmac.new(services_of(request).pepper.encode(), b"herald/console/flash", hashlib.sha256).digest()


def _flashes(request: Request) -> list[dict[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE, "")
    body, _, sig = raw.partition(".")
    if not body or len(raw) > 2048:
        return []
    expected = hmac.new(_flash_key(request), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig.encode(), expected.encode()):
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return []
    return [{"kind": str(k), "text": str(t)} for k, t in items][:5]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


async def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    """A page (or, asked by htmx, its fragment) with what every template may use: the user,
    the app, the nav, the CSRF token, the flash messages and where the console lives."""
    app: AppContext | None = getattr(request.state, "console_app", None)
    who = await signed_in(request)
    flashes = _flashes(request)
    base = {
        "request": request,
        "root": root(request),
        "user": who,
        "app": app,
        "nav": _nav(request, app),
        "csrf_field": CSRF_FIELD,
        "csrf_token": await csrf_token(request),
        "flashes": flashes,
        "htmx": is_htmx(request),
        "layout": "layout/fragment.html" if is_htmx(request) else "layout/page.html",
    }
    response = templates.TemplateResponse(request, template, {**base, **(context or {})}, status_code=status)
    attach_anonymous_cookie(request, response)
    if flashes:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, to: str, flash: str | None = None, kind: str = "success") -> Response:
    """After a change: 303 to `to` (below the console's root), or HX-Redirect for htmx; the
    flash message shows on the next page."""
    url = root(request) + to
    response: Response
    if request.headers.get("hx-request") == "true":
        response = HTMLResponse("", headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash is not None:
        # Unpadded: an "=" in a cookie's value would make it quoted.
        body = base64.urlsafe_b64encode(json.dumps([[kind, flash]]).encode()).decode().rstrip("=")
        sig = hmac.new(_flash_key(request), body.encode(), hashlib.sha256).hexdigest()
        set_cookie(request, response, FLASH_COOKIE, f"{body}.{sig}", max_age=60)
    return response


async def read_form(request: Request, model: type[M]) -> tuple[M | None, dict[str, str], dict[str, Any]]:
    """The form as `model`, or None and the errors by field (for the form to show next to
    each control); and the raw values, to fill the form again."""
    form = await request.form()
    raw: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if get_origin(field.annotation) is list:
            raw[name] = [v for v in form.getlist(name) if isinstance(v, str)]
        elif isinstance(value := form.get(name), str):
            raw[name] = value
    try:
        return model.model_validate(raw), {}, raw
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            errors.setdefault(field_of(err["loc"]) or "form", str(err["msg"]).removeprefix("Value error, "))
        return None, errors, raw
