"""apps: secret rotation with an overlap, a development flag, updated_at

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 10:00:00

A rotated secret keeps working until `previous_secret_expires_at`. `development` marks the
app `herald run` creates for local use (existing apps are not marked: which of them was the
development one cannot be told apart now). `updated_at` starts at each app's `created_at`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.kit.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret_hash", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("previous_secret_expires_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("development", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("updated_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True))
    op.execute("UPDATE apps SET updated_at = created_at")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=herald.kit.db.UtcDateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("development")
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_secret_hash")
