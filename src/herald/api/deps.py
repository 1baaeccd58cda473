"""Request-scoped dependencies: the API's services and who is calling.

A route accepts a kind of caller by taking its dependency: `AppDep` for an app's backend
(HTTP Basic), `EndUserDep` for an end user (a Bearer token the app minted). The OpenAPI
document names the matching security scheme on each operation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from herald.api import cors
from herald.api.auth import Authenticator, forget_everywhere
from herald.api.services import ApiServices
from herald.api.subjects import AppCaller, EndUser
from herald.kit.errors import InvalidToken, Unauthenticated

_basic = HTTPBasic(
    auto_error=False, realm="herald", scheme_name="app", description="An app's backend: its key and secret"
)
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="end_user",
    description="An end user of an app, from the app's web pages: a token (JWT, HS256) the app minted for them",
)


async def get_services(request: Request) -> ApiServices:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    hand-off (and GIL round trip) on every request for a dictionary lookup."""
    services: ApiServices = request.app.state.services
    return services


ServicesDep = Annotated[ApiServices, Depends(get_services)]


def get_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def app_caller(request: Request, creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> AppCaller:
    if creds is None or not creds.username or not creds.password:
        raise Unauthenticated()
    return await get_authenticator(request).app(creds.username, creds.password, _address(request))


async def end_user(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> EndUser:
    if creds is None or not creds.credentials:
        raise InvalidToken()
    origin = request.headers.get("origin")
    user = await get_authenticator(request).end_user(creds.credentials, _address(request), origin)
    if origin is not None:
        cors.allow(request, origin)
    return user


_query_token = APIKeyQuery(
    name="token",
    auto_error=False,
    scheme_name="end_user_stream",
    description="An end user's token in the query: only for a live stream, as EventSource sends no headers",
)


async def end_user_of_stream(request: Request, token: Annotated[str | None, Depends(_query_token)]) -> EndUser:
    """An end user on a live stream: `EventSource` cannot send headers, so the stream's URL
    carries the token (Herald logs no URLs; a proxy in front should not log its query)."""
    if not token or len(token) > 4096:
        raise InvalidToken()
    origin = request.headers.get("origin")
    user = await get_authenticator(request).end_user(token, _address(request), origin)
    if origin is not None:
        cors.allow(request, origin)
    return user


AppDep = Annotated[AppCaller, Depends(app_caller)]
EndUserDep = Annotated[EndUser, Depends(end_user)]
EndUserStreamDep = Annotated[EndUser, Depends(end_user_of_stream)]


def accepts_end_users(route: APIRoute) -> bool:
    """Whether the route takes an end user: `end_user` is among its dependencies, however deep."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call in (end_user, end_user_of_stream):
            return True
        stack.extend(dependant.dependencies)
    return False


def forget_credentials() -> None:
    """Drop cached verifications and failure counts (tests; a changed app)."""
    forget_everywhere()
