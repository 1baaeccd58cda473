"""templates: versions (draft, published, archived), layouts, and each delivery's template version

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 16:00:00

Every existing template becomes one published version, numbered as its current `version`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import herald.kit.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "template_versions",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("default_locale", sa.String(length=35), nullable=False),
        sa.Column("content", _JSON, nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("created_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("published_at", herald.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("app_id", "kind", "key", "number"),
    )
    for name, state in (("draft", "draft"), ("live", "published")):
        op.create_index(
            f"ux_template_versions_{name}",
            "template_versions",
            ["app_id", "kind", "key"],
            unique=True,
            postgresql_where=sa.text(f"state = '{state}'"),
            sqlite_where=sa.text(f"state = '{state}'"),
        )
    op.create_table(
        "layouts",
        sa.Column("app_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("content", _JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", herald.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("app_id", "key"),
    )
    op.add_column("deliveries", sa.Column("template_version", sa.Integer(), nullable=True))
    op.execute(
        """
        INSERT INTO template_versions (app_id, kind, key, number, state, description, default_locale, content,
                                       created_at, created_by, updated_at, updated_by, published_at, published_by)
        SELECT app_id, 'template', key, version, 'published', description, default_locale, content,
               created_at, 'migration', updated_at, 'migration', updated_at, 'migration'
        FROM templates
        """
    )


def downgrade() -> None:
    op.drop_column("deliveries", "template_version")
    op.drop_table("layouts")
    op.drop_index("ux_template_versions_live", table_name="template_versions")
    op.drop_index("ux_template_versions_draft", table_name="template_versions")
    op.drop_table("template_versions")
