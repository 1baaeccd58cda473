"""The callbacks' front door (`api.doors`): `POST` and `GET /v1/callbacks/{provider}[/{account}]`.

Twilio and Vonage post one receipt per request, by the thousand a second. Under that load a
profile of the API put about a fifth of its CPU per receipt in FastAPI's machinery around the
handler, and about a twentieth more in the layers FastAPI puts around every app.

The routes stay declared in `callbacks.endpoints`: the OpenAPI document, `HEAD`, and whatever
this door does not take (an account that is not a UUID gets FastAPI's 422) go through them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from herald.api.doors import Door
from herald.callbacks.endpoints import PREFIX, receive_callback

_METHODS = frozenset({"POST", "GET"})
# (provider, account)
Matched = tuple[str, uuid.UUID | None]


def _route(path: str) -> Matched | None:
    """(provider, account) of a callback path this door answers; None for any other path."""
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].split("/")
    if not parts[0] or len(parts) > 2:
        return None
    if len(parts) == 1:
        return parts[0], None
    try:
        return parts[0], uuid.UUID(parts[1])
    except ValueError:
        return None


class CallbackDoor(Door[Matched]):
    def route(self, scope: Scope) -> Matched | None:
        if scope["type"] != "http" or scope["method"] not in _METHODS:
            return None
        return _route(scope["path"])

    def path_params(self, matched: Matched) -> Mapping[str, str]:
        return {"provider": matched[0]}

    async def respond(self, request: Request, matched: Matched) -> Response:
        return await receive_callback(request, *matched)
