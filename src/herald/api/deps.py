"""Request-scoped dependencies: the runtime, the authenticated app, the unit of work."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from herald.apps.service import AppIdentity, authenticate
from herald.kit.errors import Unauthenticated
from herald.runtime import Runtime

_basic = HTTPBasic(auto_error=False, realm="herald")
# Verified credentials, so a busy client does not cost a database read per request.
_AUTH_TTL = 30.0
_auth_cache: dict[tuple[int, str, str], tuple[float, AppIdentity]] = {}


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    hand-off (and GIL round trip) on every request for a dictionary lookup."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def current_app(
    runtime: RuntimeDep, creds: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> AppIdentity:
    if creds is None or not creds.username or not creds.password:
        raise Unauthenticated()
    key = (id(runtime), creds.username, hashlib.sha256(creds.password.encode()).hexdigest())
    hit = _auth_cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    async with runtime.sessions() as session:
        identity = await authenticate(session, creds.username, creds.password, runtime.pepper)
    if len(_auth_cache) > 10_000:
        _auth_cache.clear()
    _auth_cache[key] = (now + _AUTH_TTL, identity)
    return identity


AppDep = Annotated[AppIdentity, Depends(current_app)]


def forget_credentials() -> None:
    """Drop cached verifications (tests, app deactivation)."""
    _auth_cache.clear()
