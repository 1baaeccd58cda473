"""The domain error tree.

Each error has a stable machine-readable `code` and its docstring as the default message.
Errors know nothing of HTTP: `herald.api.errors` maps them to status codes in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def field_of(loc: Sequence[Any]) -> str | None:
    """A dotted field name from a validation error location, without the transport part."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


class HeraldError(Exception):
    """Something went wrong."""

    code = "error"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        self.field = field
        super().__init__(self.message)


class ValidationFailed(HeraldError):
    """The request is not valid."""

    code = "validation_error"


class InvalidJson(ValidationFailed):
    """The request body is not strict JSON (RFC 8259)."""

    code = "invalid_json"


class InvalidEmail(ValidationFailed):
    """The email address is not valid."""

    code = "invalid_email"


class InvalidPhone(ValidationFailed):
    """The phone number is not valid."""

    code = "invalid_phone"


class InvalidDeviceToken(ValidationFailed):
    """The device token is not one its platform issues."""

    code = "invalid_device_token"


class InvalidTemplate(ValidationFailed):
    """The template does not compile."""

    code = "invalid_template"


class InvalidMjml(InvalidTemplate):
    """The email's MJML does not compile."""

    code = "invalid_mjml"


class MissingVariable(ValidationFailed):
    """A variable used by the template was not provided."""

    code = "missing_variable"


class RenderFailed(ValidationFailed):
    """The template could not be rendered with the given data."""

    code = "render_error"


class RenderLimit(RenderFailed):
    """The template went over a render limit (size, loop iterations, nesting or CPU time) and was stopped."""


class BatchTooLarge(ValidationFailed):
    """The batch holds more notifications than allowed."""

    code = "batch_too_large"


class PayloadTooLarge(HeraldError):
    """The request body is larger than this server accepts."""

    code = "payload_too_large"


class HeadersTooLarge(HeraldError):
    """The request carries more header fields, or more header bytes, than this server accepts."""

    code = "headers_too_large"


class NoRecipient(ValidationFailed):
    """The notification names no user and no inline recipient."""

    code = "no_recipient"


class NoContent(ValidationFailed):
    """The notification has neither a template nor inline content for any channel."""

    code = "no_content"


class EgressDenied(ValidationFailed):
    """Herald does not connect there: not a public address, or not on the operator's allow-list."""

    code = "egress_denied"


class NotFound(HeraldError):
    """The resource does not exist."""

    code = "not_found"


class UserNotFound(NotFound):
    """The user does not exist."""

    code = "user_not_found"


class DeviceNotFound(NotFound):
    """The device does not exist."""

    code = "device_not_found"


class TemplateNotFound(NotFound):
    """The template does not exist."""

    code = "template_not_found"


class VersionNotFound(NotFound):
    """The template or layout has no such version."""

    code = "version_not_found"


class DraftNotFound(NotFound):
    """The template or layout has no draft: save one first."""

    code = "draft_not_found"


class LayoutNotFound(NotFound):
    """The layout does not exist."""

    code = "layout_not_found"


class NotificationNotFound(NotFound):
    """The notification does not exist."""

    code = "notification_not_found"


class AppNotFound(NotFound):
    """No app has this key or id."""

    code = "app_not_found"


class Unauthenticated(HeraldError):
    """Valid app credentials are required (HTTP Basic: app key and secret)."""

    code = "unauthenticated"


class InvalidToken(Unauthenticated):
    """A valid end-user token is required (Authorization: Bearer, a token the app minted)."""

    code = "invalid_token"


class TokenExpired(InvalidToken):
    """The end-user token has expired: get a new one from the app."""

    code = "token_expired"


class Forbidden(HeraldError):
    """The caller may not do this."""

    code = "forbidden"


class OriginNotAllowed(Forbidden):
    """The app does not allow its end users' tokens to be used from this web origin."""

    code = "origin_not_allowed"


class AuthThrottled(HeraldError):
    """Too many failed authentications from this address or for this key; retry later."""

    code = "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message or f"{(self.__doc__ or '').strip()} (in {retry_after} s)")
        self.retry_after = retry_after


class Conflict(HeraldError):
    """The request conflicts with the current state."""

    code = "conflict"


class AppBusy(Conflict):
    """The app still has deliveries being sent; try again once they have settled."""

    code = "app_busy"


class Unavailable(HeraldError):
    """A backing service is unavailable; nothing was accepted. Retry later."""

    code = "unavailable"
