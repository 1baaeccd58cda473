"""monitoring: what worker processes report (breakers, throughput), and dead letters by channel

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 16:00:00

Workers publish their breakers' states and their per-minute throughput in rows of their own,
overwritten every few seconds and pruned after a few hours. The partial index on dead
deliveries counts dead letters per channel without reading the history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from herald.kit.db import UtcDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEAD = sa.text("state = 'dead'")


def upgrade() -> None:
    op.create_table(
        "monitor_provider_beats",
        sa.Column("reporter", sa.String(length=96), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("reported_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("reporter", "scope", "provider", name=op.f("pk_monitor_provider_beats")),
    )
    op.create_table(
        "monitor_channel_minutes",
        sa.Column("reporter", sa.String(length=96), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("minute", UtcDateTime(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("latency", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("reporter", "channel", "minute", name=op.f("pk_monitor_channel_minutes")),
    )
    with op.batch_alter_table("monitor_channel_minutes", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_channel_minutes_minute", ["minute"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_dead", ["channel"], unique=False, postgresql_where=DEAD, sqlite_where=DEAD)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_dead")
    op.drop_table("monitor_channel_minutes")
    op.drop_table("monitor_provider_beats")
