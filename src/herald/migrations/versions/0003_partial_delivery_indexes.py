"""deliveries: the claim and lease indexes hold only the rows that can still be claimed

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:20:00

On PostgreSQL, every state change of a delivery is a new row version with an entry in every
index; settled rows (almost all of them) never match a claim, a lease sweep or the
scheduler, so the two indexes those use now cover only `queued`/`scheduled` and `sending`
rows. A settled delivery's update then skips both, and the indexes stay the size of the
backlog instead of the history. SQLite keeps full indexes: its planner cannot match a
partial index against a bound parameter.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIMABLE = sa.text("state IN ('queued', 'scheduled')")
LEASED = sa.text("state = 'sending'")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_claim")
        batch_op.drop_index("ix_deliveries_lease")
        batch_op.create_index(
            "ix_deliveries_claim", ["state", "channel", "available_at"], unique=False, postgresql_where=CLAIMABLE
        )
        batch_op.create_index("ix_deliveries_lease", ["state", "lease_until"], unique=False, postgresql_where=LEASED)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_claim")
        batch_op.drop_index("ix_deliveries_lease")
        batch_op.create_index("ix_deliveries_claim", ["state", "channel", "available_at"], unique=False)
        batch_op.create_index("ix_deliveries_lease", ["state", "lease_until"], unique=False)
