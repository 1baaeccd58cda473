"""Who is calling: one type per kind of caller, and each route says which it accepts.

An app calls with its key and secret, from its backend, for everything it owns. An end user
of an app calls with a token the app minted for them, from the app's web pages, for what is
theirs only. A kind of caller added later (a console user with a session) is one more type
here, one more member of `Subject` and one more dependency in `api.deps`; a route that does
not name it keeps refusing it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AppCaller:
    """An app's backend, authenticated by key and secret: every query is scoped by `app_id`."""

    app_id: uuid.UUID
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class EndUser:
    """One user of one app, authenticated by a token the app minted: sees only their own."""

    app_id: uuid.UUID
    # The app's public key, which the token names as its issuer.
    app_key: str
    user_id: str
    expires_at: datetime


Subject = AppCaller | EndUser
