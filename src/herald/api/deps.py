"""Request-scoped dependencies: the runtime, the authenticated app, the unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from herald.api.auth import Authenticator, forget_everywhere
from herald.apps.service import AppIdentity
from herald.kit.errors import Unauthenticated
from herald.runtime import Runtime

_basic = HTTPBasic(auto_error=False, realm="herald")


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    hand-off (and GIL round trip) on every request for a dictionary lookup."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def current_app(
    request: Request, creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> AppIdentity:
    if creds is None or not creds.username or not creds.password:
        raise Unauthenticated()
    authenticator: Authenticator = request.app.state.authenticator
    address = request.client.host if request.client is not None else "unknown"
    return await authenticator.app(creds.username, creds.password, address)


AppDep = Annotated[AppIdentity, Depends(current_app)]


def forget_credentials() -> None:
    """Drop cached verifications and failure counts (tests; a changed app)."""
    forget_everywhere()
