"""Initial schema: scenes, timeseries, observations.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Geometry columns are PostGIS geometry(GEOMETRY, 4326) with GiST indexes on PostgreSQL and
WKT text on SQLite (fis.store.orm.GeometryType); both keep lon/lat bbox columns with a b-tree index.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fis.store.orm import GeometryType

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BAND_COLUMNS = ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b8a", "b09", "b10", "b11", "b12"]
NDVI_COLUMNS = ["ndvi_mean", "ndvi_min", "ndvi_max", "ndvi_std", "ndvi_median", "ndvi_p10", "ndvi_p25", "ndvi_p75", "ndvi_p90"]


def _bbox_columns() -> list[sa.Column]:
    return [sa.Column(name, sa.Float(), nullable=False) for name in ("min_lon", "min_lat", "max_lon", "max_lat")]


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgres():
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "scenes",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("collection", sa.String(255)),
        sa.Column("datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("platform", sa.String(64)),
        sa.Column("tile", sa.String(16)),
        sa.Column("processing_baseline", sa.String(16)),
        sa.Column("product_level", sa.String(8), nullable=False),
        sa.Column("crs", sa.String(64)),
        sa.Column("footprint", GeometryType("GEOMETRY"), nullable=False),
        sa.Column("assets", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text()),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_bbox_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenes")),
    )
    op.create_index(op.f("ix_scenes_datetime"), "scenes", ["datetime"])
    op.create_index(op.f("ix_scenes_date"), "scenes", ["date"])
    op.create_index("ix_scenes_bbox", "scenes", ["min_lon", "max_lon", "min_lat", "max_lat"])

    op.create_table(
        "timeseries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geometry", GeometryType("GEOMETRY"), nullable=False),
        sa.Column("time_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        *_bbox_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeseries")),
    )
    op.create_index(op.f("ix_timeseries_created_at"), "timeseries", ["created_at"])

    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("timeseries_id", sa.String(36), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scenes", sa.JSON(), nullable=False),
        *[sa.Column(name, sa.Float()) for name in NDVI_COLUMNS],
        sa.Column("cloud_probability", sa.Float()),
        sa.Column("cloud_fraction", sa.Float()),
        sa.Column("total_pixels", sa.Integer(), nullable=False),
        sa.Column("valid_pixels", sa.Integer(), nullable=False),
        sa.Column("cloudy_pixels", sa.Integer(), nullable=False),
        sa.Column("nodata_pixels", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Float()) for name in BAND_COLUMNS],
        sa.ForeignKeyConstraint(
            ["timeseries_id"], ["timeseries.id"], ondelete="CASCADE",
            name=op.f("fk_observations_timeseries_id_timeseries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.UniqueConstraint("timeseries_id", "date", name=op.f("uq_observations_timeseries_id")),
    )
    op.create_index(op.f("ix_observations_timeseries_id"), "observations", ["timeseries_id"])

    if _is_postgres():
        op.create_index("ix_scenes_footprint_gist", "scenes", ["footprint"], postgresql_using="gist")
        op.create_index("ix_timeseries_geometry_gist", "timeseries", ["geometry"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("observations")
    op.drop_table("timeseries")
    op.drop_table("scenes")
