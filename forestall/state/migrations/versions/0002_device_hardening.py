"""seq high-water marks hold the contract's 64-bit range; indexes for the event clock and retention

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_sequences", schema=None) as batch_op:
        batch_op.alter_column(
            "high_water", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )
        batch_op.create_index("ix_ingest_sequences_tenant_max_ts", ["tenant", "max_ts"], unique=False)
    with op.batch_alter_table("ingest_rejections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_rejections_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ingest_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_rejections_received_at"))
    with op.batch_alter_table("ingest_sequences", schema=None) as batch_op:
        batch_op.drop_index("ix_ingest_sequences_tenant_max_ts")
        batch_op.alter_column(
            "high_water", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
