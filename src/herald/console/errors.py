"""The console's domain errors. Each subclasses a family `herald.api.errors` already maps, so
the API and the console's own error pages agree on the status."""

from __future__ import annotations

from herald.kit.errors import AuthThrottled, Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed


class LoginRequired(Unauthenticated):
    """Sign in to the console to see this page."""

    code = "login_required"


class LoginFailed(Unauthenticated):
    """The email or the password is not right."""

    code = "login_failed"


class LoginLocked(AuthThrottled):
    """Too many failed sign-ins: signing in is locked for a while."""

    code = "login_locked"


class CsrfRejected(Forbidden):
    """The form is out of date or did not come from this console: reload the page and try again."""

    code = "csrf_failed"


class ConsoleUserNotFound(NotFound):
    """No console user has this email."""

    code = "console_user_not_found"


class ConsoleUserExists(Conflict):
    """A console user with this email already exists."""

    code = "console_user_exists"


class LastOwner(Conflict):
    """An app keeps at least one owner: make someone else owner first."""

    code = "last_owner"


class WeakPassword(ValidationFailed):
    """The password is too short or too long."""

    code = "weak_password"
