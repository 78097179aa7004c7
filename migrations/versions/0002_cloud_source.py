"""Observations: cloud source, shadow pixels and an extra JSON column for optional statistics.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

- ``cloud_source``: where cloud_fraction came from ("s2cloudless", "precomputed", "scl").
- ``shadow_pixels``: cloud-shadow pixels (L2A scene classification), null when unknown.
- ``extra``: JSON for optional per-observation statistics (indices, percentiles, histograms).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("cloud_source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("shadow_pixels", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("extra", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("extra")
        batch.drop_column("shadow_pixels")
        batch.drop_column("cloud_source")
