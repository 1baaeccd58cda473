"""notifications: the per-user index leads with user_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:40:00

An index led by app_id competed with the (app_id, event_id) unique index for the intake's
dedup lookup; without statistics (a new deployment) the planner could take it and scan
every notification of the app.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_app_user")
        batch_op.create_index("ix_notifications_user_app", ["user_id", "app_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_app")
        batch_op.create_index("ix_notifications_app_user", ["app_id", "user_id"], unique=False)
