"""activity search: every filter of the notification log read through an index, in id order

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 16:00:00

The console's Activity search lists an app's notifications newest first (keyset on the
time-ordered id) by user, event id, template, category, a delivery's state, channel or
provider, and a time range (read as an id range). Each filter gets an index that ends in the
notification id, so a page is an ordered range scan that stops after `limit` rows:

- notifications (insert-only: an index costs one entry per notification at the intake):
  (app_id, id) new, used only by queries that ask for it (see NEW); (template, app_id, id)
  and (category, app_id, id) new, partial (no entry for inline content or an uncategorised
  notification); (user_id, app_id) widened to (user_id, app_id, id), not added;
- deliveries (updated at each state change; these updates are not HOT already, since `state`
  is indexed, so every index takes an entry per update): (app_id, state) widened to
  (app_id, state, notification_id), not added; (app_id, channel, notification_id) new;
  (app_id, provider, notification_id) new, partial: a delivery enters it when a provider
  is first called (queued and skipped ones never do).

On PostgreSQL the indexes are built CONCURRENTLY, outside the migration's transaction, so a
running intake is not blocked while a large log is indexed (about 1-2 s per index and
million rows on the bench machine); the two widened ones are built under a new name first,
then swapped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name, table, columns, partial predicate
NEW = (
    # Partial on every row: only a query that says `id IS NOT NULL` (the search) may use it, so
    # it cannot take the dedup lookup (app_id, event_id) from the unique index, which the
    # planner does without statistics for an index led by app_id (see 0002).
    ("ix_notifications_app_id", "notifications", ["app_id", "id"], "id IS NOT NULL"),
    ("ix_notifications_template", "notifications", ["template", "app_id", "id"], "template IS NOT NULL"),
    ("ix_notifications_category", "notifications", ["category", "app_id", "id"], "category IS NOT NULL"),
    ("ix_deliveries_channel", "deliveries", ["app_id", "channel", "notification_id"], None),
    ("ix_deliveries_provider", "deliveries", ["app_id", "provider", "notification_id"], "provider IS NOT NULL"),
)
# name, table, columns before, columns after
WIDENED = (
    ("ix_notifications_user_app", "notifications", ["user_id", "app_id"], ["user_id", "app_id", "id"]),
    ("ix_deliveries_app_state", "deliveries", ["app_id", "state"], ["app_id", "state", "notification_id"]),
)


def _create(name: str, table: str, columns: list[str], where: str | None, *, concurrently: bool) -> None:
    predicate = sa.text(where) if where else None
    op.create_index(
        name,
        table,
        columns,
        unique=False,
        postgresql_where=predicate,
        sqlite_where=predicate,
        postgresql_concurrently=concurrently,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, table, columns, where in NEW:
            _create(name, table, columns, where, concurrently=False)
        for name, table, _, after in WIDENED:
            op.drop_index(name, table_name=table)
            _create(name, table, after, None, concurrently=False)
        return
    with op.get_context().autocommit_block():
        for name, table, columns, where in NEW:
            _create(name, table, columns, where, concurrently=True)
        for name, table, _, after in WIDENED:
            _create(f"{name}_new", table, after, None, concurrently=True)
    for name, _, _, _ in WIDENED:
        op.execute(f"DROP INDEX {name}")
        op.execute(f"ALTER INDEX {name}_new RENAME TO {name}")


def downgrade() -> None:
    for name, table, _, _ in NEW:
        op.drop_index(name, table_name=table)
    for name, table, before, _ in WIDENED:
        op.drop_index(name, table_name=table)
        _create(name, table, before, None, concurrently=False)
