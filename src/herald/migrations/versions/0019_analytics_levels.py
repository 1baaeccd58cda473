"""analytics: the rollups counted at coarser levels too (the app's totals, each dimension alone)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 11:00:00

A query without a filter or a breakdown read every combination's rows (a busy app's year: 7,800
monthly rows and thousands of hourly ones at the ragged ends; its daily series 219,000). The
folder now also counts each increment at the levels of `analytics.models.LEVELS`, and a query
that names exactly a level's dimensions reads that level's few rows per bucket. The levels are
filled here from the existing rollups. Run it with the folders stopped (as every migration here
expects Herald stopped): a fold by the code before it would not reach the levels.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.kit.db

revision: str = "0019"
down_revision: str | None = "0018"
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
LEVELS = {
    "all": (),
    "template": ("template",),
    "template_version": ("template", "template_version"),
    "channel": ("channel",),
    "provider": ("provider",),
    "channel_provider": ("channel", "provider"),
}
# (table, bucket column, bucket type)
TABLES = (
    ("analytics_hourly", "hour", herald.kit.db.UtcDateTime(timezone=True)),
    ("analytics_daily", "day", sa.Date()),
    ("analytics_monthly", "month", sa.Date()),
)


def upgrade() -> None:
    for source, bucket, kind in TABLES:
        name = f"{source}_levels"
        op.create_table(
            name,
            sa.Column("app_id", sa.Uuid(), nullable=False),
            sa.Column(bucket, kind, nullable=False),
            *(sa.Column(c, sa.BigInteger(), nullable=False) for c in COUNTERS),
            sa.Column("level", sa.String(length=16), nullable=False),
            sa.Column("template", sa.String(length=200), nullable=False),
            sa.Column("template_version", sa.String(length=64), nullable=False),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("provider", sa.String(length=32), nullable=False),
            sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f(f"fk_{name}_app_id_apps"), ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("app_id", "level", bucket, *DIMENSIONS, name=op.f(f"pk_{name}")),
        )
        op.create_index(f"ix_{name}_template", name, ["app_id", "level", "template", bucket])
        sums = ", ".join(f"sum({c})" for c in COUNTERS)
        columns = ", ".join(("app_id", "level", bucket, *DIMENSIONS, *COUNTERS))
        for level, kept in LEVELS.items():
            dims = ", ".join(d if d in kept else f"'' AS {d}" for d in DIMENSIONS)
            grouped = ", ".join(("app_id", bucket, *kept))
            op.execute(
                f"INSERT INTO {name} ({columns})"  # noqa: S608 (constant names only)
                f" SELECT app_id, '{level}', {bucket}, {dims}, {sums} FROM {source} GROUP BY {grouped}"
            )


def downgrade() -> None:
    for source, *_ in reversed(TABLES):
        name = f"{source}_levels"
        op.drop_index(f"ix_{name}_template", table_name=name)
        op.drop_table(name)
