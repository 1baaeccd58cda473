"""The one place where domain errors become HTTP answers: `{"error": {"code", "message", "field"}}`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from herald.api.schemas import ErrorOut
from herald.kit import errors as e
from herald.kit.errors import field_of

log = logging.getLogger(__name__)

STATUS: list[tuple[type[e.HeraldError], int]] = [
    (e.Unauthenticated, 401),
    (e.Forbidden, 403),
    (e.AuthThrottled, 429),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.BatchTooLarge, 413),
    (e.PayloadTooLarge, 413),
    (e.ValidationFailed, 422),
    (e.HeadersTooLarge, 431),
    (e.Unavailable, 503),
]

_HTTP_CODES = {
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _retry_after(meaning: str) -> dict[str, Any]:
    return {"Retry-After": {"description": meaning, "required": True, "schema": {"type": "integer", "minimum": 0}}}


# What each status means in the OpenAPI document; every one carries an ErrorOut body.
_DOCUMENTED: dict[int, tuple[str, dict[str, Any]]] = {
    401: (
        "No valid credentials: app key and secret (`unauthenticated`), or end-user token"
        " (`invalid_token`, `token_expired`)",
        {
            "WWW-Authenticate": {
                "description": "The challenge: Basic for an app's routes, Bearer for an end user's",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    ),
    403: (
        "The token's app does not allow its end users' tokens from this web origin (`origin_not_allowed`);"
        " a provider callback without its provider's valid signature (`invalid_signature`)",
        {},
    ),
    404: ("The resource does not exist in this app (`not_found` or a specific `*_not_found`)", {}),
    409: ("A concurrent request wrote the same resource; nothing was written, retry (`conflict`)", {}),
    413: ("The body is over the size limit (`payload_too_large`), a batch over its item count (`batch_too_large`)", {}),
    422: ("The request is not valid: `field` names the culprit (`validation_error`, `invalid_json`, ...)", {}),
    429: ("Too many failed authentications from this client: wait, then retry", _retry_after("seconds to wait")),
    431: ("Too many header fields, or too many bytes of headers (`headers_too_large`)", {}),
    503: (
        "Storage is unavailable or at capacity; nothing was accepted (`unavailable`, `overloaded`)",
        _retry_after("seconds until a retry may succeed"),
    ),
}
# Every authenticated operation can answer these, whatever it does.
AUTHENTICATED = (401, 413, 422, 429, 431, 503)
# And an end user's operation, called from a web page, this too.
END_USER = (*AUTHENTICATED, 403)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, for a route or a router."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, headers = _DOCUMENTED[status]
        out[status] = {"model": ErrorOut, "description": description, **({"headers": headers} if headers else {})}
    return out


def status_for(exc: e.HeraldError) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 400)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"error": err}


async def answer(request: Request, exc: Exception) -> Response:
    """The app's own answer to `exc` (its exception handlers, by the exception's class), for
    a front door that answers ahead of FastAPI (`api.app.HeraldApi`); raised on when it has
    none, as a route's would be (the server logs it and answers 500)."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc


def install(app: FastAPI) -> None:
    @app.exception_handler(e.HeraldError)
    async def _domain(_: Request, exc: e.HeraldError) -> JSONResponse:
        headers = None
        if isinstance(exc, e.InvalidToken):
            headers = {"WWW-Authenticate": 'Bearer realm="herald", error="invalid_token"'}
        elif isinstance(exc, e.Unauthenticated):
            headers = {"WWW-Authenticate": 'Basic realm="herald"'}
        if isinstance(exc, e.Unavailable):
            headers = {"Retry-After": "5"}
        if isinstance(exc, e.AuthThrottled):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = dict(exc.errors()[0]) if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            # Its location is a character offset, not a field.
            reason = dict(first.get("ctx") or {}).get("error", "")
            message = f"the request body is not strict JSON (RFC 8259): {reason}"
            return JSONResponse(error_body(e.InvalidJson.code, message), 422)
        return JSONResponse(
            error_body("validation_error", str(first.get("msg")), field_of(tuple(first.get("loc", ())))), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    # Storage trouble, each answered without a 500 and without pretending to accept: nothing
    # of a request that ends here was committed.
    # (exception, level, code, message, status, Retry-After)
    storage: list[tuple[tuple[type[Exception], ...], int, str, str, int, str | None]] = [
        # Two requests created the same resource at once; this one was rolled back whole.
        ((IntegrityError,), logging.INFO, "conflict",
         "a concurrent request wrote the same resource; nothing was written, retry", 409, None),
        # Overload, not an outage: every connection is busy.
        ((PoolTimeout,), logging.WARNING, "overloaded",
         "the service is at capacity; nothing was accepted, retry shortly", 503, "1"),
        ((OperationalError, DBAPIError, OSError, TimeoutError), logging.ERROR, "unavailable",
         "the database is unavailable; nothing was accepted, retry later", 503, "5"),
    ]  # fmt: skip
    for classes, level, code, message, status, retry_after in storage:
        for cls in classes:
            app.add_exception_handler(cls, _storage_handler(level, code, message, status, retry_after))


def _storage_handler(
    level: int, code: str, message: str, status: int, retry_after: str | None
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    headers = {"Retry-After": retry_after} if retry_after else None

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        log.log(level, "storage error; answering %d %s: %s", status, code, exc)
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    return handle
