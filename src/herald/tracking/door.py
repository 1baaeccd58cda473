"""The open pixel's and the click redirect's front door (`api.doors`): `GET /t/o/{token}` and
`GET /t/c/{token}`.

Every open and every click of every email is one request, by the thousand a second. Under
3,000 a second a profile of the one API process put about a third of its CPU per request in
what FastAPI and Starlette wrap around the two handlers. The door calls the routes' own
handlers (`tracking.endpoints`) with the same token and services; the routes stay declared for
the OpenAPI document, `HEAD`, and any path this door does not take.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from herald.api.doors import Door
from herald.tracking.endpoints import click, open_pixel

_HANDLERS = {"/t/o/": open_pixel, "/t/c/": click}
# (the path's prefix, its token)
Matched = tuple[str, str]


class TrackingDoor(Door[Matched]):
    def route(self, scope: Scope) -> Matched | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        path: str = scope["path"]
        prefix, token = path[:5], path[5:]
        if prefix not in _HANDLERS or not token or "/" in token:
            return None
        return prefix, token

    def path_params(self, matched: Matched) -> Mapping[str, str]:
        return {"token": matched[1]}

    async def respond(self, request: Request, matched: Matched) -> Response:
        prefix, token = matched
        return await _HANDLERS[prefix](token, request.app.state.services)
