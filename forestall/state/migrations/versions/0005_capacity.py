"""recommendations: their place in the technicians' plan (capacity JSON, overbooked flag)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recommendations") as batch:
        batch.add_column(sa.Column("capacity", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("overbooked", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recommendations") as batch:
        batch.drop_column("overbooked")
        batch.drop_column("capacity")
