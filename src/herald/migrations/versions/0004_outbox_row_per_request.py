"""outbox: one row per write (a request), its queued deliveries as [id, channel] pairs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 06:45:00

A row per delivery was an insert and a delete (an index entry and a dead tuple) per
delivery; a request of 50 now writes one row. Rows waiting at upgrade time are carried over,
each as a row of one pair, so the relay still publishes them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entries", sa.JSON(), nullable=True))
    if op.get_context().dialect.name == "postgresql":
        op.execute("UPDATE outbox SET entries = json_build_array(json_build_array(delivery_id::text, channel))")
    else:
        op.execute("UPDATE outbox SET entries = json_array(json_array(delivery_id, channel))")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("entries", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("delivery_id")
        batch_op.drop_column("channel")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivery_id", sa.Uuid(), nullable=True))
    # One row per pair again: a row of many pairs becomes as many rows.
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "INSERT INTO outbox (channel, delivery_id, entries, created_at)"
            " SELECT e->>1, (e->>0)::uuid, '[]', o.created_at FROM outbox o, json_array_elements(o.entries) e"
            " WHERE o.delivery_id IS NULL"
        )
    else:
        op.execute(
            "INSERT INTO outbox (channel, delivery_id, entries, created_at)"
            " SELECT json_extract(e.value, '$[1]'), replace(json_extract(e.value, '$[0]'), '-', ''), '[]',"
            " o.created_at FROM outbox o, json_each(o.entries) e WHERE o.delivery_id IS NULL"
        )
    op.execute("DELETE FROM outbox WHERE delivery_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("channel", existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column("delivery_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("entries")
