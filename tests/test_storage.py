"""Storage: transactional writes, migrations up/down/up, PostGIS columns and indexes, ingest upserts."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select, text

from fis_archive import (  # noqa: F401 - fixtures
    DATE_CLEAR,
    SCENE_CLEAR,
    SCENE_CLOUDY,
    SCENE_EAST,
    SCENE_IDS,
    SCENE_WEST,
    archive,
    copy_archive,
    ingest_into,
    ingested,
    request_body,
)

TABLES = {"scenes", "timeseries", "observations", "batch_jobs", "batch_features"}


def counts(app: Any) -> tuple[int, int]:
    from fis.store.orm import ObservationRow, TimeSeries

    with app.extensions["fis"].sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(TimeSeries)),
            session.scalar(select(func.count()).select_from(ObservationRow)),
        )


# --- transactional writes -------------------------------------------------------------------

@pytest.fixture
def quiet_app_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="fis.api.errors")


def test_failure_after_saving_leaves_no_series(ingested: Any, monkeypatch: pytest.MonkeyPatch, quiet_app_errors: None) -> None:
    import fis.services.series
    import fis.store.queries

    real_save = fis.store.queries.save_series

    def save_then_fail(session: Any, **kwargs: Any) -> Any:
        series = real_save(session, **kwargs)  # rows are flushed inside the transaction
        with session.no_autoflush:
            assert session.get(type(series), series.id) is series
        raise RuntimeError("disk full")

    client = ingested.test_client()
    kept = client.post("/api/v1/timeseries", json=request_body()).get_json()["id"]
    before = counts(ingested)
    monkeypatch.setattr(fis.services.series, "save_series", save_then_fail)
    response = client.post("/api/v1/timeseries", json=request_body())
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "disk full" not in response.get_json()["error"]["message"]  # no internals leaked
    assert counts(ingested) == before
    assert client.get("/api/v1/timeseries").get_json()["total"] == 1
    assert client.get(f"/api/v1/timeseries/{kept}").status_code == 200


def test_failing_observation_insert_leaves_no_half_written_series(ingested: Any, quiet_app_errors: None) -> None:
    from fis.store.orm import ObservationRow

    inserted: list[Any] = []

    def fail_on_second(mapper: Any, connection: Any, target: ObservationRow) -> None:
        inserted.append(target.date)
        if len(inserted) == 2:
            raise RuntimeError("observation insert failed")

    client = ingested.test_client()
    event.listen(ObservationRow, "before_insert", fail_on_second)
    try:
        response = client.post("/api/v1/timeseries", json=request_body())
    finally:
        event.remove(ObservationRow, "before_insert", fail_on_second)
    assert response.status_code == 500
    assert len(inserted) == 2
    assert counts(ingested) == (0, 0)
    assert client.post("/api/v1/timeseries", json=request_body()).status_code == 201
    assert counts(ingested) == (1, 3)


def test_database_constraint_violation_rolls_back_the_series(ingested: Any, monkeypatch: pytest.MonkeyPatch, quiet_app_errors: None) -> None:
    """Two observations of one date break the (timeseries_id, date) unique constraint in the database."""
    from fis.engine.engine import Engine

    real_compute = Engine.compute

    def duplicate_dates(self: Engine, *args: Any, **kwargs: Any) -> Any:
        result = real_compute(self, *args, **kwargs)
        first = result.observations[0]
        return dataclasses.replace(result, observations=(*result.observations, first))

    monkeypatch.setattr(Engine, "compute", duplicate_dates)
    response = ingested.test_client().post("/api/v1/timeseries", json=request_body())
    assert response.status_code == 500
    assert counts(ingested) == (0, 0)


def test_delete_is_transactional(ingested: Any, monkeypatch: pytest.MonkeyPatch, quiet_app_errors: None) -> None:
    import fis.store.queries
    from fis.store.orm import TimeSeries

    client = ingested.test_client()
    series_id = client.post("/api/v1/timeseries", json=request_body()).get_json()["id"]
    def delete_observations_then_fail(session: Any, sid: str) -> None:
        from sqlalchemy import delete

        from fis.store.orm import ObservationRow

        session.execute(delete(ObservationRow).where(ObservationRow.timeseries_id == sid))
        raise RuntimeError("connection lost")

    monkeypatch.setattr("fis.api.timeseries.delete_series", delete_observations_then_fail)
    assert client.delete(f"/api/v1/timeseries/{series_id}").status_code == 500
    assert counts(ingested) == (1, 3)
    monkeypatch.setattr("fis.api.timeseries.delete_series", fis.store.queries.delete_series)
    assert client.delete(f"/api/v1/timeseries/{series_id}").status_code == 204
    with ingested.extensions["fis"].sessions() as session:
        assert session.get(TimeSeries, series_id) is None


# --- migrations -----------------------------------------------------------------------------

def _tables(engine: Any) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    from fis.errors import StorageError
    from fis.store.db import current_revision, downgrade, ensure_migrated, head_revision, make_engine, upgrade

    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        with pytest.raises(StorageError, match="fis db upgrade"):
            ensure_migrated(engine)
        upgrade(engine)
        head = head_revision(engine)
        assert head is not None and current_revision(engine) == head
        assert _tables(engine) >= TABLES
        ensure_migrated(engine)
        upgrade(engine)  # idempotent at head
        assert current_revision(engine) == head

        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert not (TABLES & _tables(engine))

        upgrade(engine)
        assert current_revision(engine) == head
        assert _tables(engine) >= TABLES
        ensure_migrated(engine)
    finally:
        engine.dispose()


def test_orm_models_match_the_migrations(database_url: str) -> None:
    """Autogenerate finds nothing to add: the hand-written migration and fis.store.orm agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from fis.store.db import make_engine, upgrade
    from fis.store.orm import Base

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            diffs = compare_metadata(context, Base.metadata)
        # PostGIS' own tables (spatial_ref_sys, ...) are not ours
        ours = [d for d in diffs if not (d[0] == "remove_table" and d[1].name not in TABLES)]
        # GiST indexes live only in the migration (the ORM marks geometry columns spatial_index=False)
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].name.endswith("_gist"))]
        assert ours == []
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_postgis_geometry_columns_and_gist_indexes(postgis_url: str) -> None:
    from fis.store.db import make_engine, upgrade

    engine = make_engine(postgis_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            columns = conn.execute(text(
                "select f_table_name, f_geometry_column, srid, type from geometry_columns order by f_table_name"
            )).all()
            assert [tuple(c) for c in columns] == [("batch_features", "geometry", 4326, "GEOMETRY"), ("scenes", "footprint", 4326, "GEOMETRY"), ("timeseries", "geometry", 4326, "GEOMETRY")]
            udt = conn.execute(text(
                "select table_name, column_name, udt_name from information_schema.columns "
                "where table_name in ('scenes', 'timeseries') and column_name in ('footprint', 'geometry')"
            )).all()
            assert {(t, c): u for t, c, u in udt} == {("scenes", "footprint"): "geometry", ("timeseries", "geometry"): "geometry"}
            indexes = dict(conn.execute(text(
                "select indexname, indexdef from pg_indexes where schemaname = 'public' and tablename in ('scenes', 'timeseries')"
            )).all())
            assert "USING gist (footprint)" in indexes["ix_scenes_footprint_gist"]
            assert "USING gist (geometry)" in indexes["ix_timeseries_geometry_gist"]
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_postgis_stored_series_is_readable_by_gis_tools(postgis_url: str, tmp_path: Path, archive: Path) -> None:
    """What QGIS / psql see: real geometries with SRID 4326 that PostGIS functions accept."""
    from fis.api.app import create_app
    from fis.config import Settings
    from fis.store.db import upgrade

    app = create_app(Settings(data_dir=tmp_path, database_url=postgis_url))
    try:
        upgrade(app.extensions["fis"].db)
        ingest_into(app, archive)
        series_id = app.test_client().post("/api/v1/timeseries", json=request_body()).get_json()["id"]
        with app.extensions["fis"].db.connect() as conn:
            wkt, srid, valid, geom_type = conn.execute(text(
                "select ST_AsText(geometry), ST_SRID(geometry), ST_IsValid(geometry), GeometryType(geometry) "
                "from timeseries where id = :id"
            ), {"id": series_id}).one()
            assert wkt.startswith("POLYGON((15.00") and srid == 4326 and valid and geom_type == "POLYGON"
            # an area in hectares, from the database: the field is 200 m x 200 m
            hectares = conn.execute(text("select ST_Area(geometry::geography) / 10000 from timeseries where id = :id"), {"id": series_id}).scalar()
            assert hectares == pytest.approx(4.0, rel=0.01)
            # the scenes the series was computed from, by a spatial join in SQL
            touching = conn.execute(text(
                "select s.id from scenes s join timeseries t on ST_Intersects(s.footprint, t.geometry) "
                "where t.id = :id order by s.datetime, s.id"
            ), {"id": series_id}).scalars().all()
            assert touching == [SCENE_CLEAR, SCENE_WEST, SCENE_EAST, SCENE_CLOUDY]
            rows = conn.execute(text(
                "select o.date, o.valid_pixels from observations o where o.timeseries_id = :id order by o.date"
            ), {"id": series_id}).all()
            assert [(d.isoformat(), v) for d, v in rows] == [(DATE_CLEAR, 360), ("2023-06-11", 400), ("2023-06-21", 400)]
    finally:
        app.extensions["fis"].close()


# --- ingest ---------------------------------------------------------------------------------

def test_reingest_updates_and_never_duplicates(app: Any, archive: Path, tmp_path: Path) -> None:
    from fis.services.ingest import ingest
    from fis.store.queries import count_scenes

    root = copy_archive(archive, tmp_path / "archive")
    sessions = app.extensions["fis"].sessions
    first = ingest([str(root)], sessions)
    assert sorted(first.created) == sorted(SCENE_IDS) and first.updated == [] and first.failed == []
    second = ingest([str(root)], sessions)
    assert second.created == [] and sorted(second.updated) == sorted(SCENE_IDS)
    with sessions() as session:
        assert count_scenes(session) == 4

    item_path = root / SCENE_CLOUDY / f"{SCENE_CLOUDY}.json"
    item = json.loads(item_path.read_text())
    item["properties"]["platform"] = "sentinel-2c"
    item["properties"]["eo:cloud_cover"] = 97.5
    item_path.write_text(json.dumps(item))
    third = ingest([str(item_path)], sessions)
    assert third.updated == [SCENE_CLOUDY] and third.created == []
    with sessions() as session:
        assert count_scenes(session) == 4
    feature = next(f for f in app.test_client().get("/api/v1/scenes").get_json()["features"] if f["id"] == SCENE_CLOUDY)
    assert feature["properties"]["platform"] == "sentinel-2c"


def test_broken_items_are_reported_by_name_and_good_ones_ingested(app: Any, archive: Path, tmp_path: Path) -> None:
    from fis.services.ingest import ingest
    from fis.store.queries import count_scenes

    root = copy_archive(archive, tmp_path / "archive")
    # 1. not JSON at all
    (root / "notes.json").write_text("{ this is not json")
    # 2. an item without a datetime
    no_date = json.loads((root / SCENE_WEST / f"{SCENE_WEST}.json").read_text())
    no_date["id"] = "S2X_NO_DATETIME"
    del no_date["properties"]["datetime"]
    (root / SCENE_WEST / "no-datetime.json").write_text(json.dumps(no_date))
    # 3. an item whose band file is gone
    (root / SCENE_EAST / "B8A.tif").unlink()

    report = ingest([str(root)], app.extensions["fis"].sessions)
    assert sorted(report.created) == sorted([SCENE_CLEAR, SCENE_WEST, SCENE_CLOUDY])
    failed = dict(report.failed)
    assert set(failed) == {str(root / "notes.json"), "S2X_NO_DATETIME", SCENE_EAST}
    assert "JSON" in failed[str(root / "notes.json")]
    assert "datetime" in failed["S2X_NO_DATETIME"]
    assert "B8A" in failed[SCENE_EAST] and "does not exist" in failed[SCENE_EAST]
    with app.extensions["fis"].sessions() as session:
        assert count_scenes(session) == 3
    summary = report.to_dict()
    assert summary["created"] == 3 and len(summary["failed"]) == 3

