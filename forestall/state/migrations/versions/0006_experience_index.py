"""the Experience index is learnt from outcomes: its model and customer-days; the tenant's
threshold becomes a probability in percent

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 16:00:00

The index was a fixed sum of points (0–100); it is now the probability, in percent, of a
negative outcome within 30 days. A stored threshold is carried over to the probability the new
index's prior gives a customer the old index scored at that threshold (60, the old default,
becomes 50, the new one). Stored indices of the old meaning are dropped: each is computed again
when next read or refreshed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The prior as it was when this migration was written (predictor.experience), frozen here: the
# old index's saturation (60 points), the base rate (10 %) and the log-odds of a point (0.04).
_SCALE, _BASE_LOG_ODDS, _PER_POINT = 60.0, math.log(0.1 / 0.9), 0.04


def percent_of_fixed(index: float) -> float:
    if index >= 100.0:
        return 100.0
    points = -_SCALE * math.log(1.0 - max(index, 0.0) / 100.0)
    return 100.0 / (1.0 + math.exp(-(_BASE_LOG_ODDS + _PER_POINT * points)))


def fixed_of_percent(percent: float) -> float:
    if percent >= 100.0:
        return 100.0
    if percent <= 0.0:
        return 0.0
    points = max((math.log(percent / (100.0 - percent)) - _BASE_LOG_ODDS) / _PER_POINT, 0.0)
    return 100.0 * (1.0 - math.exp(-points / _SCALE))


def _convert(old: str, new: str, convert: Callable[[float], float]) -> None:
    with op.batch_alter_table("risk_weights", schema=None) as batch_op:
        batch_op.add_column(sa.Column(new, sa.Float(), nullable=True))
    conn = op.get_bind()
    for tenant, value in conn.execute(sa.text(f"SELECT tenant, {old} FROM risk_weights")).all():
        conn.execute(
            sa.text(f"UPDATE risk_weights SET {new} = :value WHERE tenant = :tenant"),
            {"value": round(convert(float(value)), 2), "tenant": tenant},
        )
    with op.batch_alter_table("risk_weights", schema=None) as batch_op:
        batch_op.alter_column(new, existing_type=sa.Float(), nullable=False)
        batch_op.drop_column(old)


def upgrade() -> None:
    op.create_table(
        "experience_state",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("learner", sa.JSON(), nullable=False),
        sa.Column("snapshot_at", sa.Float(), nullable=True),
        sa.Column("covered_until", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant"),
    )
    op.create_table(
        "experience_snapshots",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("risk_index", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "customer_id", "at"),
    )
    op.create_index("ix_experience_snapshots_tenant_at", "experience_snapshots", ["tenant", "at"])
    _convert("threshold", "threshold_percent", percent_of_fixed)
    op.execute("DELETE FROM customer_risk")
    with op.batch_alter_table("customer_risk", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM customer_risk")
    with op.batch_alter_table("customer_risk", schema=None) as batch_op:
        batch_op.drop_column("model")
    _convert("threshold_percent", "threshold", fixed_of_percent)
    op.drop_index("ix_experience_snapshots_tenant_at", table_name="experience_snapshots")
    op.drop_table("experience_snapshots")
    op.drop_table("experience_state")
