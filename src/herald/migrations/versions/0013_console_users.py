"""console users, memberships, sessions, sign-in throttles

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 15:31:54

The operator console (herald/console/): its users (argon2 hashes), their role in each app,
their server-side sessions (a hash of the cookie's token only), and the failed sign-in
counters behind the lockout, per email and per client address.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.kit.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_login_throttles",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", herald.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_console_login_throttles")),
    )
    op.create_table(
        "console_users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("password_changed_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_users")),
        sa.UniqueConstraint("email_key", name=op.f("uq_console_users_email_key")),
    )
    op.create_table(
        "console_memberships",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_console_memberships_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["console_users.id"],
            name=op.f("fk_console_memberships_user_id_console_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "app_id", name=op.f("pk_console_memberships")),
    )
    with op.batch_alter_table("console_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_memberships_app_id"), ["app_id"], unique=False)

    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["console_users.id"],
            name=op.f("fk_console_sessions_user_id_console_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_sessions_token_hash")),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_user_id"))

    op.drop_table("console_sessions")
    with op.batch_alter_table("console_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_memberships_app_id"))

    op.drop_table("console_memberships")
    op.drop_table("console_users")
    op.drop_table("console_login_throttles")
