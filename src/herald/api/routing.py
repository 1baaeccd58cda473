"""How every API route reads a request: strict JSON by orjson, and no NUL in any text.

FastAPI parses a JSON body with `Request.json()`; a route class that hands the endpoint its
own Request subclass is the documented way to change that parser.

- orjson, not `json.loads`: it refuses NaN, Infinity and numbers that overflow a double
  (1e400, which `json.loads` turns into inf and the database into null), and it is faster
  on the intake's hot path. An integer too long for 64 bits is read as a float, and a
  repeated key keeps its last value, as JavaScript's JSON.parse does.
- U+0000: PostgreSQL cannot store it in text or JSONB (SQLite can), so it is refused in a
  body, a path or a query on either backend, with the field named.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from herald.kit.errors import ValidationFailed

_NUL_MESSAGE = "text may not contain the NUL character (U+0000)"


class JsonRequest(Request):
    """A request whose JSON body is parsed by orjson."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson.JSONDecodeError is a json.JSONDecodeError: FastAPI answers it as invalid JSON.
            self._json = orjson.loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """The route class of every API router: strict JSON, and no NUL anywhere in the request."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            strict = JsonRequest(request.scope, request.receive)
            await refuse_nul(strict)
            return await handle(strict)

        return route_handler


async def refuse_nul(request: Request, path_params: Mapping[str, str] | None = None) -> None:
    """422 for a NUL in the path's parameters (the route's, unless given), the query or a JSON body."""
    params = request.path_params if path_params is None else path_params
    # A query's NUL can only arrive percent-encoded (or raw, which servers refuse): a query
    # without either is not parsed here (providers' receipts by the thousand a second).
    query = request.scope.get("query_string", b"")
    queried = request.query_params.multi_items() if b"%00" in query or b"\x00" in query else ()
    for name, value in (*params.items(), *queried):
        if isinstance(value, str) and "\x00" in value:
            raise ValidationFailed(_NUL_MESSAGE, field=name)
    await _refuse_nul_body(request)


async def _refuse_nul_body(request: Request) -> None:
    body = await request.body()
    # In strict JSON a NUL can only be written as this escape, so a body without it has none.
    if b"\\u0000" not in body:
        return
    try:
        parsed = await request.json()
    except orjson.JSONDecodeError:
        return  # FastAPI reports it as invalid JSON
    path = _nul_path(parsed)
    if path is not None:
        raise ValidationFailed(_NUL_MESSAGE, field=".".join(str(p) for p in path) or None)


def _nul_path(value: object) -> list[str | int] | None:
    # Iterative: orjson accepts 1,024 levels of nesting, past Python's recursion limit.
    stack: list[tuple[list[str | int], object]] = [([], value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for key, inner in item.items():
                if "\x00" in key:
                    return path  # the object holding the key: the key itself cannot name a field
                stack.append(([*path, key], inner))
        elif isinstance(item, list):
            stack.extend(([*path, i], inner) for i, inner in enumerate(item))
    return None
