"""The open pixel's and the click redirect's own door into the API: `GET /t/o/{token}` and
`GET /t/c/{token}` answered in front of the whole application (`api.app.HeraldApi`), as the
providers' callbacks are (`callbacks.door`, which says why).

Every open and every click of every email is one request, by the thousand a second. Under
3,000 a second a profile of the one API process put about a third of its CPU per request in
what FastAPI and Starlette wrap around the two handlers: their middleware, the routers'
matching, the dependency solving. The handlers are the routes' own (`tracking.endpoints`),
called with the same token and services; a NUL is refused and an invalid token answered
(404, `invalid_tracking_link`) by the same code as the routes'. The routes stay declared for
the OpenAPI document, `HEAD`, and any path this door does not take.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from herald.api.errors import answer
from herald.api.routing import JsonRequest, refuse_nul
from herald.tracking.endpoints import click, open_pixel

# Where the front of the app leaves the route it matched, for the door.
ROUTE = "herald.tracking"
_HANDLERS = {"/t/o/": open_pixel, "/t/c/": click}


def tracking_route(scope: Scope) -> tuple[str, str] | None:
    """(the path's prefix, its token) of a request the door answers; None for any other."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    prefix, token = path[:5], path[5:]
    if prefix not in _HANDLERS or not token or "/" in token:
        return None
    return prefix, token


class TrackingDoor:
    """ASGI app for the opens and clicks the front of the API matched (`tracking_route`, in
    the scope under `ROUTE`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix, token = scope[ROUTE]
        request = JsonRequest(scope, receive)
        try:
            await refuse_nul(request, {"token": token})
            response = await _HANDLERS[prefix](token, request.app.state.services)
        except Exception as exc:
            response = await answer(request, exc)
        await response(scope, receive, send)
