"""feed_items: each user's in-app feed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 12:00:00

One row per in-app delivery (its id is the delivery's), erased with its user; an index for
the feed newest first and a partial one for the unread badge.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import herald.kit.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD = "read_at IS NULL AND archived_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "feed_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("action_url", sa.Text(), nullable=True),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("read_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("archived_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id", "user_id"],
            ["users.app_id", "users.user_id"],
            name=op.f("fk_feed_items_app_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_items")),
    )
    with op.batch_alter_table("feed_items", schema=None) as batch_op:
        batch_op.create_index("ix_feed_items_owner", ["app_id", "user_id", "id"], unique=False)
        batch_op.create_index(
            "ix_feed_items_unread",
            ["app_id", "user_id"],
            unique=False,
            postgresql_where=sa.text(UNREAD),
            sqlite_where=sa.text(UNREAD),
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_items", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_items_unread")
        batch_op.drop_index("ix_feed_items_owner")
    op.drop_table("feed_items")
