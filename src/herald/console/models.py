"""Console tables: the people who sign in to /console, what they may do in which app, their
sessions, and the counters behind the sign-in lockout."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, UtcDateTime
from herald.kit.ids import uuid7


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    # As given, for display; `email_key` (lowercased) is what is unique and looked up.
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    # argon2id, in PHC string format (the parameters travel with the hash).
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ConsoleMembership(Base):
    """One user's role in one app: owner, editor or viewer."""

    __tablename__ = "console_memberships"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ConsoleSession(Base):
    """A signed-in browser. Only a hash of its cookie's token is kept: a copy of this table
    signs nobody in."""

    __tablename__ = "console_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ConsoleLoginThrottle(Base):
    """Failed sign-ins counted per key: `account:<hash of the email>` or `address:<client>`.

    The account key is the email's, not the user's id, so that an email with no account
    locks exactly like one with: the lockout tells nobody which emails exist.
    """

    __tablename__ = "console_login_throttles"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
