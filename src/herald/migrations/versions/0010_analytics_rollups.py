"""analytics: rollups per app, template (and version), channel, provider and hour, and per day

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 14:00:00

Counters of what happened to the deliveries accepted in each hour (and UTC day), kept up to
date by each new delivery event; the daily table answers a year in 365 rows per combination.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.kit.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_hourly",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("hour", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("template", sa.String(length=200), nullable=False),
        sa.Column("template_version", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("undelivered", sa.BigInteger(), nullable=False),
        sa.Column("bounced", sa.BigInteger(), nullable=False),
        sa.Column("complained", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("dead", sa.BigInteger(), nullable=False),
        sa.Column("unsubscribed", sa.BigInteger(), nullable=False),
        sa.Column("opened", sa.BigInteger(), nullable=False),
        sa.Column("opened_unique", sa.BigInteger(), nullable=False),
        sa.Column("clicked", sa.BigInteger(), nullable=False),
        sa.Column("clicked_unique", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_analytics_hourly_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "app_id", "hour", "template", "template_version", "channel", "provider", name=op.f("pk_analytics_hourly")
        ),
    )
    op.create_table(
        "analytics_daily",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("template", sa.String(length=200), nullable=False),
        sa.Column("template_version", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("undelivered", sa.BigInteger(), nullable=False),
        sa.Column("bounced", sa.BigInteger(), nullable=False),
        sa.Column("complained", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("dead", sa.BigInteger(), nullable=False),
        sa.Column("unsubscribed", sa.BigInteger(), nullable=False),
        sa.Column("opened", sa.BigInteger(), nullable=False),
        sa.Column("opened_unique", sa.BigInteger(), nullable=False),
        sa.Column("clicked", sa.BigInteger(), nullable=False),
        sa.Column("clicked_unique", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_analytics_daily_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "app_id", "day", "template", "template_version", "channel", "provider", name=op.f("pk_analytics_daily")
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_daily")
    op.drop_table("analytics_hourly")
