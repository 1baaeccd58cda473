"""apps: the hosted preference page's category catalogue and branding

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-05 16:00:00

Existing apps start with no catalogue (their page lists only the categories a user already
has a preference for) and no branding (the page shows the app's name in Herald's colours).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories", json, server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column("branding", json, server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("branding")
        batch_op.drop_column("categories")
