"""Console shapes: roles, and what a page is told about the person signed in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """What a member may do in one app; each role may do everything of the ones below it."""

    VIEWER = "viewer"  # reads everything, changes nothing
    EDITOR = "editor"  # templates, replays
    OWNER = "owner"  # members, integrations, webhooks, app secrets

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class MemberApp:
    """An app as one of its members sees it in the console."""

    id: uuid.UUID
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Member:
    user_id: uuid.UUID
    email: str
    role: Role
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who a request comes from: resolved from the session cookie on every console request."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    apps: tuple[MemberApp, ...]

    def app(self, app_id: uuid.UUID) -> MemberApp | None:
        return next((a for a in self.apps if a.id == app_id), None)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened: the token goes into the cookie, and nowhere else."""

    token: str
    session_id: uuid.UUID
    expires_at: datetime
