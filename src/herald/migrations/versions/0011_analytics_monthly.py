"""analytics: monthly rollups per combination; the daily and monthly tables indexed by template

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 16:00:00

A year's query reads whole months (12 rows per combination) and, at its ragged ends, the month
less the days and hours outside the period. The monthly table is filled from the daily rows.
A filter by template reads its own rows through (app_id, template, bucket) (no counter in the
index: the increments stay HOT updates).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = (
    "accepted",
    "sent",
    "delivered",
    "undelivered",
    "bounced",
    "complained",
    "failed",
    "dead",
    "unsubscribed",
    "opened",
    "opened_unique",
    "clicked",
    "clicked_unique",
)
DIMENSIONS = ("template", "template_version", "channel", "provider")


def upgrade() -> None:
    op.create_table(
        "analytics_monthly",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("template", sa.String(length=200), nullable=False),
        sa.Column("template_version", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        *(sa.Column(c, sa.BigInteger(), nullable=False) for c in COUNTERS),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_analytics_monthly_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", "month", *DIMENSIONS, name=op.f("pk_analytics_monthly")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    month = "CAST(date_trunc('month', day) AS date)" if postgres else "date(day, 'start of month')"
    keys = ", ".join(("app_id", *DIMENSIONS))
    sums = ", ".join(f"sum({c})" for c in COUNTERS)
    op.execute(
        f"INSERT INTO analytics_monthly ({keys}, month, {', '.join(COUNTERS)})"  # noqa: S608 (constant names only)
        f" SELECT {keys}, {month}, {sums} FROM analytics_daily GROUP BY {keys}, {month}"
    )
    op.create_index("ix_analytics_daily_template", "analytics_daily", ["app_id", "template", "day"])
    op.create_index("ix_analytics_monthly_template", "analytics_monthly", ["app_id", "template", "month"])


def downgrade() -> None:
    op.drop_index("ix_analytics_monthly_template", table_name="analytics_monthly")
    op.drop_index("ix_analytics_daily_template", table_name="analytics_daily")
    op.drop_table("analytics_monthly")
