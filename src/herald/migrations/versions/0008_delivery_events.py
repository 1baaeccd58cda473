"""delivery events: the timeline, engagement summaries, and each delivery's reported outcome

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 13:00:00

What happened after Herald handed a delivery over: providers' receipts and the recipient's
engagement, one row per event (unique per delivery by its dedupe value), a summary per
delivery and kind of engagement, and on the delivery the highest verdict so far.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.kit.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("occurred_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("dedupe", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_events_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_events")),
        sa.UniqueConstraint("delivery_id", "dedupe", name=op.f("uq_delivery_events_delivery_id_dedupe")),
    )
    op.create_table(
        "engagements",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("first_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_engagements_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", "kind", name=op.f("pk_engagements")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("outcome_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("outcome_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("outcome_at")
        batch_op.drop_column("outcome_code")
        batch_op.drop_column("outcome")
    op.drop_table("engagements")
    op.drop_table("delivery_events")
