"""analytics: increments staged by the hot path, folded into the rollups in batches

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 19:10:00

The rollups keep every count they had; from now on writers append to `analytics_pending` and a
folder adds those rows to the three tables (`herald.analytics.folding`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.kit.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = (
    *("accepted", "sent", "delivered", "undelivered", "bounced", "complained", "failed", "dead"),
    *("unsubscribed", "opened", "opened_unique", "clicked", "clicked_unique"),
)


def upgrade() -> None:
    op.create_table(
        "analytics_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("hour", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("template", sa.String(length=200), nullable=False),
        sa.Column("template_version", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_analytics_pending_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_pending")),
    )


def downgrade() -> None:
    op.drop_table("analytics_pending")
