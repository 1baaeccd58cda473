"""apps: the end-user token key (sealed), its rotation overlap, the allowed web origins

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12 10:00:00

Existing apps get no key: one is made, sealed with the service's secret key, the first time
the app asks for it (a migration has no secret key to seal with). Their origins start empty,
so no web page may use their tokens until the app says which may.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import herald.kit.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: on SQLite the batch recreated `apps` (for the expression
    # default) and dropping the old table under its ON DELETE CASCADE keys emptied every app's
    # data (tests/apps/test_migration_0006.py).
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column("apps", sa.Column("end_user_key", sa.Text(), nullable=True))
    op.add_column("apps", sa.Column("previous_end_user_key", sa.Text(), nullable=True))
    op.add_column(
        "apps", sa.Column("previous_end_user_key_expires_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True)
    )
    op.add_column("apps", sa.Column("allowed_origins", json, server_default=sa.text("'[]'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("allowed_origins")
        batch_op.drop_column("previous_end_user_key_expires_at")
        batch_op.drop_column("previous_end_user_key")
        batch_op.drop_column("end_user_key")
