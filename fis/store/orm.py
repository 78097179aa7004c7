"""SQLAlchemy 2.0 models: scenes (the archive), time series and their observations.

Geometry columns are PostGIS ``geometry(…, 4326)`` with GiST indexes on PostgreSQL and WKT
text on the embedded SQLite default (see :class:`GeometryType`); each table also keeps the
bounding box in plain columns so SQLite can pre-filter spatially with ordinary indexes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import shapely
from geoalchemy2 import Geometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from fis.core.bands import BANDS

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class GeometryType(TypeDecorator[BaseGeometry]):
    """A shapely geometry in EPSG:4326: PostGIS ``geometry`` on PostgreSQL, WKT text elsewhere."""

    impl = Text
    cache_ok = True
    # attributes geoalchemy2's DDL hooks look up on spatial column types (indexes are made by migrations)
    spatial_index = False
    use_N_D_index = False
    management = False
    use_typmod = None
    dimension = 2
    nullable = True

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = 4326):
        super().__init__()
        self.geometry_type = geometry_type
        self.srid = srid

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect is not None and dialect.name == "postgresql":
            return dialect.type_descriptor(Geometry(self.geometry_type, srid=self.srid, spatial_index=False))
        return Text() if dialect is None else dialect.type_descriptor(Text())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect is not None and dialect.name == "postgresql":
            return f"SRID={self.srid};{value.wkt}"
        return value.wkt

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        if hasattr(value, "data"):  # geoalchemy2 WKBElement
            value = bytes(value.data)
        if isinstance(value, (bytes, memoryview)):
            return shapely.from_wkb(bytes(value))
        text = str(value)
        if text.startswith("SRID="):
            text = text.split(";", 1)[1]
        if all(c in "0123456789abcdefABCDEF" for c in text[:16]):
            return shapely.from_wkb(text)
        return shapely.from_wkt(text)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BBoxMixin:
    """Bounding box columns (lon/lat) for index-backed pre-filtering on every backend."""

    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)

    def set_bbox(self, geometry: BaseGeometry) -> None:
        self.min_lon, self.min_lat, self.max_lon, self.max_lat = (float(v) for v in geometry.bounds)


class Scene(BBoxMixin, Base):
    """One acquisition on one tile: footprint, time, radiometry and band assets."""

    __tablename__ = "scenes"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    collection: Mapped[str | None] = mapped_column(String(255))
    datetime: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    platform: Mapped[str | None] = mapped_column(String(64))
    tile: Mapped[str | None] = mapped_column(String(16))
    processing_baseline: Mapped[str | None] = mapped_column(String(16))
    product_level: Mapped[str] = mapped_column(String(8), default="L1C")
    crs: Mapped[str | None] = mapped_column(String(64))
    footprint: Mapped[BaseGeometry] = mapped_column(GeometryType("GEOMETRY"))
    assets: Mapped[dict[str, Any]] = mapped_column(JSON)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str | None] = mapped_column(Text)
    ingested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, onupdate=_utcnow)

    __table_args__ = (
        Index("ix_scenes_bbox", "min_lon", "max_lon", "min_lat", "max_lat"),
    )


class TimeSeries(BBoxMixin, Base):
    """A stored time series: the AOI, the request parameters and the observations."""

    __tablename__ = "timeseries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, index=True)
    geometry: Mapped[BaseGeometry] = mapped_column(GeometryType("GEOMETRY"))
    time_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    time_to: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the user's name for the series (request ``name`` or a Feature's ``properties.name``)
    name: Mapped[str | None] = mapped_column(String(200))
    #: the request Feature's ``properties``, kept for the GeoJSON export
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    #: the client that made it (FIS_AUTH=required); null for series made without authentication
    owner: Mapped[str | None] = mapped_column(String(64), index=True)

    observations: Mapped[list[ObservationRow]] = relationship(
        back_populates="timeseries", cascade="all, delete-orphan", passive_deletes=True,
        order_by="ObservationRow.date",
    )


class ObservationRow(Base):
    """One observation date of a time series; columns map 1:1 to the CSV export."""

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    timeseries_id: Mapped[str] = mapped_column(ForeignKey("timeseries.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    datetime: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    scenes: Mapped[list[str]] = mapped_column(JSON)
    ndvi_mean: Mapped[float | None] = mapped_column(Float)
    ndvi_min: Mapped[float | None] = mapped_column(Float)
    ndvi_max: Mapped[float | None] = mapped_column(Float)
    ndvi_std: Mapped[float | None] = mapped_column(Float)
    ndvi_median: Mapped[float | None] = mapped_column(Float)
    ndvi_p10: Mapped[float | None] = mapped_column(Float)
    ndvi_p25: Mapped[float | None] = mapped_column(Float)
    ndvi_p75: Mapped[float | None] = mapped_column(Float)
    ndvi_p90: Mapped[float | None] = mapped_column(Float)
    cloud_probability: Mapped[float | None] = mapped_column(Float)
    cloud_fraction: Mapped[float | None] = mapped_column(Float)
    total_pixels: Mapped[int] = mapped_column(Integer)
    valid_pixels: Mapped[int] = mapped_column(Integer)
    cloudy_pixels: Mapped[int] = mapped_column(Integer)
    nodata_pixels: Mapped[int] = mapped_column(Integer)
    shadow_pixels: Mapped[int | None] = mapped_column(Integer)
    cloud_source: Mapped[str | None] = mapped_column(String(16))
    #: optional per-observation statistics (indices, percentiles, histograms) as JSON
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # None is SQL NULL, not JSON null
    # band means (reflectance), one column per band as in the CSV
    b01: Mapped[float | None] = mapped_column(Float)
    b02: Mapped[float | None] = mapped_column(Float)
    b03: Mapped[float | None] = mapped_column(Float)
    b04: Mapped[float | None] = mapped_column(Float)
    b05: Mapped[float | None] = mapped_column(Float)
    b06: Mapped[float | None] = mapped_column(Float)
    b07: Mapped[float | None] = mapped_column(Float)
    b08: Mapped[float | None] = mapped_column(Float)
    b8a: Mapped[float | None] = mapped_column(Float)
    b09: Mapped[float | None] = mapped_column(Float)
    b10: Mapped[float | None] = mapped_column(Float)
    b11: Mapped[float | None] = mapped_column(Float)
    b12: Mapped[float | None] = mapped_column(Float)

    timeseries: Mapped[TimeSeries] = relationship(back_populates="observations")

    def band_means(self) -> dict[str, float | None]:
        return {band: getattr(self, band.lower()) for band in BANDS}

    __table_args__ = (UniqueConstraint("timeseries_id", "date"),)


class Client(Base):
    """An API client (OAuth2 client credentials): its secret is stored only as a scrypt hash."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AccessToken(Base):
    """An issued bearer token, stored as the SHA-256 of the (random, high-entropy) token."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    """The series a POST with an ``Idempotency-Key`` header made, per owner ("" without authentication)."""

    __tablename__ = "idempotency_keys"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    series_id: Mapped[str] = mapped_column(ForeignKey("timeseries.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class BatchJob(Base):
    """A batch job: many features of one vector file, one request's options, computed in chunks (migration 0006).

    ``state`` is CREATED, RUNNING, DONE, PARTIAL, FAILED or CANCELLED; a RUNNING job whose ``runner`` is
    gone (cleared on interruption, or its process dead / heartbeat stale) is *interrupted* and resumable.
    """

    __tablename__ = "batch_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    #: the client that made it (FIS_AUTH=required); null without authentication
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16))
    #: sha256 of the input's content, its layer and id column, and the options: the same submission twice
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    #: the input's file name (as given), layer and id column (null: the file's FID)
    source: Mapped[str] = mapped_column(Text)
    layer: Mapped[str | None] = mapped_column(String(255))
    id_column: Mapped[str | None] = mapped_column(String(255))
    #: the time-series options (a TimeseriesBody without geometry), applied to every feature
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    features: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: ``host:pid`` of the process running it; null when no process is running it
    runner: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: a job-level failure (the cluster could not be reached, ...)
    error: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, onupdate=_utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class BatchFeature(Base):
    """One feature of a batch job: its id value, attributes, geometry, and what became of it."""

    __tablename__ = "batch_features"

    job_id: Mapped[str] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"), primary_key=True)
    #: position in the input (0-based)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: the id column's value as text (the FID by default)
    feature_id: Mapped[str] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the geometry in EPSG:4326 (null when the feature had none)
    geometry: Mapped[BaseGeometry | None] = mapped_column(GeometryType("GEOMETRY"))
    #: PENDING, DONE or FAILED
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    series_id: Mapped[str | None] = mapped_column(ForeignKey("timeseries.id", ondelete="SET NULL"), index=True)

    __table_args__ = (Index("ix_batch_features_job_id_status", "job_id", "status"),)


__all__ = [
    "BANDS", "AccessToken", "Base", "BatchFeature", "BatchJob", "Client", "GeometryType", "IdempotencyKey",
    "ObservationRow", "Scene", "TimeSeries",
]
