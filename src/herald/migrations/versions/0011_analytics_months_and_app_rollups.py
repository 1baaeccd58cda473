"""analytics: monthly rollups per combination, and the app's own hourly, daily and monthly rows

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 16:00:00

A year's query reads whole months (12 rows per combination) and, without a filter or a
breakdown, the app's own rows (no dimensions): milliseconds however many templates, channels
and providers an app has. The new tables are filled from the existing hourly and daily rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.kit.db

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


def _table(name: str, bucket: sa.Column[object], dimensions: bool) -> None:
    columns: list[sa.Column[object]] = [sa.Column("app_id", sa.Uuid(), nullable=False), bucket]
    if dimensions:
        columns += [
            sa.Column("template", sa.String(length=200), nullable=False),
            sa.Column("template_version", sa.String(length=64), nullable=False),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("provider", sa.String(length=32), nullable=False),
        ]
    columns += [sa.Column(c, sa.BigInteger(), nullable=False) for c in COUNTERS]
    keys = ["app_id", str(bucket.name), *(DIMENSIONS if dimensions else ())]
    op.create_table(
        name,
        *columns,
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f(f"fk_{name}_app_id_apps"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*keys, name=op.f(f"pk_{name}")),
    )


def _fill(target: str, bucket: str, source: str, value: str, dimensions: bool) -> None:
    keys = ", ".join(("app_id", *(DIMENSIONS if dimensions else ())))
    sums = ", ".join(f"sum({c})" for c in COUNTERS)
    op.execute(
        f"INSERT INTO {target} ({keys}, {bucket}, {', '.join(COUNTERS)})"  # noqa: S608 (constant names only)
        f" SELECT {keys}, {value}, {sums} FROM {source} GROUP BY {keys}, {value}"
    )


def upgrade() -> None:
    _table("analytics_monthly", sa.Column("month", sa.Date(), nullable=False), True)
    _table("analytics_app_hourly", sa.Column("hour", herald.kit.db.UtcDateTime(timezone=True), nullable=False), False)
    _table("analytics_app_daily", sa.Column("day", sa.Date(), nullable=False), False)
    _table("analytics_app_monthly", sa.Column("month", sa.Date(), nullable=False), False)
    postgres = op.get_bind().dialect.name == "postgresql"
    month = "CAST(date_trunc('month', day) AS date)" if postgres else "date(day, 'start of month')"
    _fill("analytics_monthly", "month", "analytics_daily", month, True)
    _fill("analytics_app_hourly", "hour", "analytics_hourly", "hour", False)
    _fill("analytics_app_daily", "day", "analytics_daily", "day", False)
    _fill("analytics_app_monthly", "month", "analytics_monthly", "month", False)


def downgrade() -> None:
    op.drop_table("analytics_app_monthly")
    op.drop_table("analytics_app_daily")
    op.drop_table("analytics_app_hourly")
    op.drop_table("analytics_monthly")
