"""Front doors: kinds of request that come by the thousand a second (providers' callbacks,
opens and clicks) answered ahead of everything FastAPI puts around an app (`api.app.HeraldApi`).

Under such load a profile of the API put a fifth to a third of its CPU per request in FastAPI's
and Starlette's machinery around the handler: their middleware (server errors, telemetry, body
limit, exceptions), the routers' matching, the dependency solving and the response. A door
keeps the few rules of those routes, written once here: the request limits come first (413,
431, as for every request: `HeraldApi` puts each door behind them); a NUL is refused in the
path's parameters, the query and a JSON body (`api.routing`); a domain or storage error is
answered by the app's own exception handlers (`api.errors.answer`), so the codes, statuses and
Retry-After are the routes'. An exception no handler answers reaches the server, which logs it
and answers 500, as FastAPI's server-error layer would.

The routes stay declared in their domain's endpoints: the OpenAPI document, `HEAD`, and
whatever a door does not take go through them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from herald.api.errors import answer
from herald.api.routing import JsonRequest, refuse_nul

# What a door matched in a request (its path's parameters, parsed), handed from `route` to `respond`.
M = TypeVar("M")
# Where the front of the app leaves what the door matched.
MATCHED = "herald.door"


class Door(ABC, Generic[M]):
    """One kind of request answered at the front: which requests (`route`), the path's
    parameters the NUL rule reads (`path_params`), and the answer (`respond`)."""

    @abstractmethod
    def route(self, scope: Scope) -> M | None:
        """What this door takes of the request; None for a request it does not take."""

    @abstractmethod
    def path_params(self, matched: M) -> Mapping[str, str]:
        """The path's parameters, as the route would have them (for the NUL rule)."""

    @abstractmethod
    async def respond(self, request: Request, matched: M) -> Response:
        """The route's own answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched: M = scope[MATCHED]
        request = JsonRequest(scope, receive)
        try:
            await refuse_nul(request, self.path_params(matched))
            response = await self.respond(request, matched)
        except Exception as exc:
            response = await answer(request, exc)
        await response(scope, receive, send)
