"""apps: the hosted preference page's category catalogue and branding

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 16:00:00

Existing apps start with no catalogue (their page lists only the categories a user already
has a preference for) and no branding (the page shows the app's name in Herald's colours).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: on SQLite a batch that recreated `apps` would drop the old
    # table under its foreign keys, and their ON DELETE CASCADE would empty every app's data.
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column("apps", sa.Column("categories", json, server_default=sa.text("'[]'"), nullable=False))
    op.add_column("apps", sa.Column("branding", json, server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    op.drop_column("apps", "branding")
    op.drop_column("apps", "categories")
