"""deliveries: the dead letters' partial index on PostgreSQL only

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 03:30:00

On SQLite the claim index (state, channel, available_at) holds every row, so it already counts
dead letters per channel; PostgreSQL's holds only claimable rows (0003) and keeps its own.
SQLite's copy was no help and not free: its predicate names the state, which every lease and
outcome changes, and SQLite then works each such UPDATE row by row. Measured by replaying an
embedded run's statements, the lease's UPDATE took twice as long (11.5 against 5.7 µs per
delivery), a tenth of all the SQLite work a delivery costs (bench/results/issue22-s30).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEAD = sa.text("state = 'dead'")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("deliveries", schema=None) as batch_op:
            batch_op.drop_index("ix_deliveries_dead")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("deliveries", schema=None) as batch_op:
            batch_op.create_index("ix_deliveries_dead", ["channel"], unique=False, sqlite_where=DEAD)
