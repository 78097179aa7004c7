"""Batch jobs and their features.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

- ``batch_jobs``: one job per submitted vector file and options (``fingerprint`` recognises the same
  submission twice), its state (CREATED, RUNNING, DONE, PARTIAL, FAILED, CANCELLED), progress counts,
  owner, and the process running it (``runner``, ``heartbeat_at``: a RUNNING job without one is resumable).
- ``batch_features``: one row per input feature: id value, attributes, geometry (EPSG:4326), status
  (PENDING, DONE, FAILED), attempts, error code and message, and the stored series it became.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fis.store.orm import GeometryType

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("layer", sa.String(255), nullable=True),
        sa.Column("id_column", sa.String(255), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("features", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("runner", sa.String(255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_jobs")),
    )
    op.create_index(op.f("ix_batch_jobs_owner"), "batch_jobs", ["owner"])
    op.create_index(op.f("ix_batch_jobs_fingerprint"), "batch_jobs", ["fingerprint"])
    op.create_index(op.f("ix_batch_jobs_created_at"), "batch_jobs", ["created_at"])
    op.create_table(
        "batch_features",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("feature_id", sa.String(255), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("geometry", GeometryType("GEOMETRY"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("series_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["batch_jobs.id"], name=op.f("fk_batch_features_job_id_batch_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["series_id"], ["timeseries.id"], name=op.f("fk_batch_features_series_id_timeseries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_batch_features")),
    )
    op.create_index("ix_batch_features_job_id_status", "batch_features", ["job_id", "status"])
    op.create_index(op.f("ix_batch_features_series_id"), "batch_features", ["series_id"])


def downgrade() -> None:
    op.drop_table("batch_features")
    op.drop_table("batch_jobs")
