"""The callbacks' own door into the API: `POST` and `GET /v1/callbacks/{provider}[/{account}]`
answered in front of the whole application (`api.app.HeraldApi`), ahead of FastAPI's routing
and its own layers.

Twilio and Vonage post one receipt per request, by the thousand a second. Under that load a
profile of the API put about a fifth of its CPU per receipt in FastAPI's machinery around the
handler: the exception middleware, the router's matching, the route's dependency solving and
its response; and about a twentieth more in the layers FastAPI puts around every app (its
server-error, telemetry and body-limit middleware). The rules of those routes are few and
written here once more, the same: NUL refused in the path, query and a JSON body
(`api.routing`); a domain or storage error answered by the app's own exception handlers
(`api.errors`), so the codes, statuses and Retry-After are the routes'. The request limits
come first (413, 431), as for every request; an exception no handler answers reaches the
server, which logs it and answers 500, as FastAPI's server-error layer would.

The routes stay declared in `callbacks.endpoints`: the OpenAPI document, `HEAD`, and whatever
this door does not take (an account that is not a UUID gets FastAPI's 422) go through them.
"""

from __future__ import annotations

import uuid

from starlette.types import Receive, Scope, Send

from herald.api.errors import answer
from herald.api.routing import JsonRequest, refuse_nul
from herald.callbacks.endpoints import PREFIX, receive_callback

_METHODS = frozenset({"POST", "GET"})
# Where the front of the app leaves the route it matched, for the door.
ROUTE = "herald.callback"


def callback_route(scope: Scope) -> tuple[str, uuid.UUID | None] | None:
    """(provider, account) of a request the door answers; None for any other."""
    if scope["type"] != "http" or scope["method"] not in _METHODS:
        return None
    return _route(scope["path"])


def _route(path: str) -> tuple[str, uuid.UUID | None] | None:
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


class CallbackDoor:
    """ASGI app for the callbacks the front of the API matched (`callback_route`, in the
    scope under `ROUTE`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider, account = scope[ROUTE]
        request = JsonRequest(scope, receive)
        try:
            await refuse_nul(request, {"provider": provider})
            response = await receive_callback(request, provider, account)
        except Exception as exc:
            response = await answer(request, exc)
        await response(scope, receive, send)
