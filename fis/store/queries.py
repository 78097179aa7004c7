"""Reading and writing the catalog and the stored series (SQLAlchemy sessions in, records out)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session, selectinload

from fis.core.bands import BANDS
from fis.core.observation import OUTPUTS, Observation, ObservationError, PixelCounts, SeriesResult
from fis.core.scenes import BandAsset, SceneRecord
from fis.core.stats import NDVI_STATISTICS
from fis.core.timerange import TimeRange
from fis.errors import NotFound
from fis.store.orm import IdempotencyKey, ObservationRow, Scene, TimeSeries

# --- scenes -----------------------------------------------------------------------------------

def upsert_scene(session: Session, record: SceneRecord) -> bool:
    """Insert or update a scene by id; True when it was new."""
    row = session.get(Scene, record.id)
    created = row is None
    if row is None:
        row = Scene(id=record.id)
        session.add(row)
    row.collection = record.collection
    row.datetime = record.datetime
    row.date = record.date
    row.platform = record.platform
    row.tile = record.tile
    row.processing_baseline = record.processing_baseline
    row.product_level = record.product_level
    row.crs = record.crs
    row.footprint = record.footprint
    row.set_bbox(record.footprint)
    assets = {band: asset.to_dict() for band, asset in record.assets.items()}
    properties = dict(record.properties)
    if not created:  # keep registered cloud layers across re-ingests of the same item
        for layer in ("CLP", "CLM"):
            if layer in (row.assets or {}) and layer not in assets:
                assets[layer] = row.assets[layer]
        if "cloud_layers" in (row.properties or {}) and "cloud_layers" not in properties:
            properties["cloud_layers"] = row.properties["cloud_layers"]
    row.assets = assets
    row.properties = properties
    row.source = record.source
    row.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    return created


def scene_record(row: Scene) -> SceneRecord:
    return SceneRecord(
        id=row.id,
        datetime=_utc(row.datetime),
        footprint=row.footprint,
        assets={band: BandAsset.from_dict(band, data) for band, data in row.assets.items()},
        collection=row.collection,
        platform=row.platform,
        tile=row.tile,
        processing_baseline=row.processing_baseline,
        product_level=row.product_level,
        crs=row.crs,
        source=row.source,
        properties=dict(row.properties or {}),
    )


def find_scenes(
    session: Session,
    geometry_4326: BaseGeometry | None,
    time_range: TimeRange | None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[SceneRecord]:
    """Scenes whose footprint intersects ``geometry_4326`` within ``time_range``, oldest first.

    On PostGIS the intersection runs in the database (GiST index); elsewhere the bbox columns
    pre-filter and shapely decides.
    """
    query = select(Scene).order_by(Scene.datetime, Scene.id)
    if time_range is not None:
        query = query.where(Scene.datetime >= time_range.start, Scene.datetime <= time_range.end)
    postgis = session.get_bind().dialect.name == "postgresql"
    if geometry_4326 is not None:
        min_x, min_y, max_x, max_y = geometry_4326.bounds
        query = query.where(
            Scene.max_lon >= min_x, Scene.min_lon <= max_x, Scene.max_lat >= min_y, Scene.min_lat <= max_y
        )
        if postgis:
            query = query.where(func.ST_Intersects(Scene.footprint, func.ST_GeomFromText(geometry_4326.wkt, 4326)))
    if postgis or geometry_4326 is None:
        if limit is not None:
            query = query.limit(limit).offset(offset)
        return [scene_record(row) for row in session.scalars(query)]
    rows = [row for row in session.scalars(query) if row.footprint.intersects(geometry_4326)]
    if limit is not None:
        rows = rows[offset : offset + limit]
    return [scene_record(row) for row in rows]


def register_cloud_layers(
    session: Session, scene_id: str, assets: dict[str, BandAsset], properties: dict[str, Any]
) -> None:
    """Attach precomputed CLP/CLM assets and their settings to a scene (caller commits)."""
    row = session.get(Scene, scene_id)
    if row is None:
        raise NotFound(f"scene {scene_id!r} not found", field="scene")
    row.assets = {**row.assets, **{name: asset.to_dict() for name, asset in assets.items()}}
    row.properties = {**(row.properties or {}), "cloud_layers": properties}
    session.flush()


def get_scene(session: Session, scene_id: str) -> SceneRecord:
    row = session.get(Scene, scene_id)
    if row is None:
        raise NotFound(f"scene {scene_id!r} not found; list scenes with GET /api/v1/scenes", field="scene_id")
    return scene_record(row)


def scene_details(session: Session, scene_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Tile, processing baseline, product level and radiometry of the given scenes, by id.

    Radiometry is ``{"scale", "offset"}`` when every band shares it, else per band.
    """
    ids = sorted(set(scene_ids))
    if not ids:
        return {}
    details: dict[str, dict[str, Any]] = {}
    for row in session.scalars(select(Scene).where(Scene.id.in_(ids))):
        per_band = {
            band: {"scale": data["scale"], "offset": data["offset"]}
            for band, data in (row.assets or {}).items() if band in BANDS
        }
        distinct = {(v["scale"], v["offset"]) for v in per_band.values()}
        radiometry: dict[str, Any] = next(iter(per_band.values())) if len(distinct) == 1 else per_band
        details[row.id] = {
            "id": row.id,
            "tile": row.tile,
            "processing_baseline": row.processing_baseline,
            "product_level": row.product_level,
            "platform": row.platform,
            "radiometry": radiometry,
        }
    return details


def count_scenes(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Scene)) or 0)


@dataclass(frozen=True)
class Coverage:
    """What the archive covers: the EPSG:4326 bounding box of every scene and the first/last acquisition."""

    bounds: tuple[float, float, float, float]
    first: dt.datetime
    last: dt.datetime


def archive_coverage(session: Session) -> Coverage | None:
    """The archive's :class:`Coverage` (None when no scene is registered)."""
    row = session.execute(
        select(
            func.min(Scene.min_lon), func.min(Scene.min_lat), func.max(Scene.max_lon), func.max(Scene.max_lat),
            func.min(Scene.datetime), func.max(Scene.datetime),
        )
    ).one()
    if row[0] is None:
        return None
    bounds = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    return Coverage(bounds=bounds, first=_utc(row[4]), last=_utc(row[5]))


# --- time series ------------------------------------------------------------------------------

def save_series(
    session: Session,
    *,
    geometry_4326: BaseGeometry,
    time_range: TimeRange,
    parameters: dict[str, Any],
    result: SeriesResult,
    warnings: Sequence[str] = (),
    name: str | None = None,
    properties: dict[str, Any] | None = None,
    owner: str | None = None,
) -> TimeSeries:
    """Store a computed series and its observations (the caller's transaction commits)."""
    series = TimeSeries(
        owner=owner,
        name=name,
        properties=properties,
        geometry=geometry_4326,
        time_from=time_range.start,
        time_to=time_range.end,
        parameters=parameters,
        model=result.model,
        status=result.status,
        errors=[e.to_json() for e in result.errors],
        warnings=list(warnings),
    )
    series.set_bbox(geometry_4326)
    series.observations = [observation_row(obs) for obs in result.observations]
    session.add(series)
    session.flush()
    return series


def _owned(query: Select[TimeSeries], owner: str | None) -> Select[TimeSeries]:
    """Only ``owner``'s series (``None``: every series, as without authentication)."""
    return query if owner is None else query.where(TimeSeries.owner == owner)


def get_series(session: Session, series_id: str, *, owner: str | None = None) -> TimeSeries:
    """A stored series (of ``owner``, when given: another client's series is not found)."""
    query = _owned(select(TimeSeries).where(TimeSeries.id == series_id), owner)
    series = session.scalars(query.options(selectinload(TimeSeries.observations))).first()
    if series is None:
        raise NotFound(
            f"time series {series_id!r} not found; list stored series with GET /api/v1/timeseries", field="id"
        )
    return series


def rename_series(session: Session, series_id: str, name: str | None, *, owner: str | None = None) -> TimeSeries:
    """Set (or with None remove) a stored series' name (the caller's transaction commits)."""
    series = get_series(session, series_id, owner=owner)
    series.name = name
    session.flush()
    return series


def list_series(
    session: Session, *, limit: int, offset: int, owner: str | None = None
) -> tuple[list[TimeSeries], int]:
    """A page of stored series (of ``owner``, when given), newest first, and the total count."""
    count = select(func.count()).select_from(TimeSeries)
    total = int(session.scalar(count if owner is None else count.where(TimeSeries.owner == owner)) or 0)
    rows = session.scalars(
        _owned(select(TimeSeries), owner)
        .order_by(TimeSeries.created_at.desc(), TimeSeries.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def observation_counts(session: Session, series_ids: Sequence[str]) -> dict[str, int]:
    if not series_ids:
        return {}
    rows = session.execute(
        select(ObservationRow.timeseries_id, func.count())
        .where(ObservationRow.timeseries_id.in_(series_ids))
        .group_by(ObservationRow.timeseries_id)
    )
    return {sid: int(n) for sid, n in rows}


def delete_series(session: Session, series_id: str, *, owner: str | None = None) -> None:
    get_series(session, series_id, owner=owner)
    session.execute(delete(ObservationRow).where(ObservationRow.timeseries_id == series_id))
    session.execute(delete(TimeSeries).where(TimeSeries.id == series_id))


def observations_of(series: TimeSeries) -> list[Observation]:
    """The stored observations of ``series``, dates ascending, with the measures its request chose."""
    chosen = (series.parameters or {}).get("outputs")
    outputs = OUTPUTS if chosen is None else tuple(o for o in OUTPUTS if o in chosen)
    return [_observation(row, outputs) for row in sorted(series.observations, key=lambda r: r.date)]


def errors_of(series: TimeSeries) -> list[ObservationError]:
    return [
        ObservationError(date=dt.date.fromisoformat(e["date"]), scenes=tuple(e.get("scenes", ())), message=e["message"])
        for e in series.errors or []
    ]


def observation_row(obs: Observation) -> ObservationRow:
    """The ORM row of one observation (its series is set by the caller)."""
    row = ObservationRow(
        date=obs.date,
        datetime=obs.datetime,
        scenes=list(obs.scenes),
        cloud_probability=obs.cloud_probability,
        cloud_fraction=obs.cloud_fraction,
        total_pixels=obs.pixels.total,
        valid_pixels=obs.pixels.valid,
        cloudy_pixels=obs.pixels.cloudy,
        nodata_pixels=obs.pixels.nodata,
        shadow_pixels=obs.pixels.shadow,
        cloud_source=obs.cloud_source,
        extra=obs.extra() or None,
    )
    for name in NDVI_STATISTICS:
        setattr(row, f"ndvi_{name}", obs.ndvi.get(name))
    for band in BANDS:
        setattr(row, band.lower(), obs.bands.get(band))
    return row


def _observation(row: ObservationRow, outputs: tuple[str, ...] = OUTPUTS) -> Observation:
    extra = row.extra or {}
    return Observation(
        date=row.date,
        datetime=_utc(row.datetime),
        scenes=tuple(row.scenes),
        ndvi={name: getattr(row, f"ndvi_{name}") for name in NDVI_STATISTICS},
        bands=row.band_means(),
        cloud_probability=row.cloud_probability,
        cloud_fraction=row.cloud_fraction,
        pixels=PixelCounts(
            total=row.total_pixels, valid=row.valid_pixels, cloudy=row.cloudy_pixels, nodata=row.nodata_pixels,
            shadow=row.shadow_pixels, clear=extra.get("clear"),
        ),
        cloud_source=row.cloud_source,
        indices=extra.get("indices"),
        percentiles=extra.get("percentiles"),
        histograms=extra.get("histograms"),
        interval=extra.get("interval"),
        outputs=outputs,
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def series_for_key(session: Session, owner: str | None, key: str) -> str | None:
    """The id of the series ``owner`` made with this ``Idempotency-Key`` (None: not made yet)."""
    found: str | None = session.scalar(
        select(IdempotencyKey.series_id).where(IdempotencyKey.owner == (owner or ""), IdempotencyKey.key == key)
    )
    return found


def remember_key(session: Session, owner: str | None, key: str, series_id: str) -> None:
    """Store an ``Idempotency-Key`` with its series (a concurrent duplicate fails the caller's transaction)."""
    session.add(IdempotencyKey(owner=owner or "", key=key, series_id=series_id))
    session.flush()
