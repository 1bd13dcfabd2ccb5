"""recommendations get a kind: failure (every earlier one) or sensor_check

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="failure"))
        batch_op.create_index(
            "ix_recommendations_tenant_kind", ["tenant", "kind", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendations_tenant_kind")
        batch_op.drop_column("kind")
