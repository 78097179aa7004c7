"""observations.extra is SQL NULL for a default observation, and migration 0003 converts stored JSON nulls."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from fis_archive import archive, ingested, request_body  # noqa: F401


def _extra_kinds(engine: Any) -> list[tuple[bool, str | None]]:
    """(is SQL NULL, text) of every observation's extra, by date."""
    cast = "CAST(extra AS TEXT)"
    with engine.connect() as connection:
        return [
            (bool(n), t)
            for n, t in connection.execute(text(f"SELECT extra IS NULL, {cast} FROM observations ORDER BY date, id"))
        ]


def test_default_observation_has_sql_null_extra(ingested: Any) -> None:
    client = ingested.test_client()
    assert client.post("/api/v1/timeseries", json=request_body()).status_code == 201
    assert _extra_kinds(ingested.extensions["fis"].db) == [(True, None)] * 3
    with_percentiles = client.post("/api/v1/timeseries", json=request_body(statistics={"percentiles": [0.5]}))
    assert with_percentiles.status_code == 201
    kinds = _extra_kinds(ingested.extensions["fis"].db)
    assert sum(not is_null for is_null, _ in kinds) == 3  # the second series' rows hold their percentiles
    # reading back a NULL extra gives the same observation as before
    stored = client.get(
        f"/api/v1/timeseries/{client.get('/api/v1/timeseries').get_json()['items'][1]['id']}"
    ).get_json()
    assert len(stored["observations"]) == 3 and all("percentiles" not in o for o in stored["observations"])


def test_migration_0003_turns_json_null_into_sql_null(database_url: str) -> None:
    from fis.store.db import make_engine, upgrade

    engine = make_engine(database_url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO timeseries (id, created_at, geometry, time_from, time_to, parameters, model, status, errors, "
                    "warnings, min_lon, min_lat, max_lon, max_lat) VALUES ('s1', '2023-07-01 00:00:00+00', :geometry, "
                    "'2023-06-01 00:00:00+00', '2023-06-30 00:00:00+00', '{}', 'm', 'OK', '[]', '[]', 0, 0, 1, 1)"
                ),
                {
                    "geometry": "SRID=4326;POLYGON((0 0, 1 0, 1 1, 0 0))"
                    if engine.dialect.name == "postgresql"
                    else "POLYGON((0 0, 1 0, 1 1, 0 0))"
                },
            )
            for row_id, extra in ((1, "null"), (2, '{"clear": 7}'), (3, None)):
                connection.execute(
                    text(
                        "INSERT INTO observations (id, timeseries_id, date, datetime, scenes, total_pixels, valid_pixels, "
                        "cloudy_pixels, nodata_pixels, extra) VALUES (:id, 's1', :date, :datetime, '[]', 1, 1, 0, 0, :extra)"
                    ),
                    {
                        "id": row_id,
                        "date": f"2023-06-0{row_id}",
                        "datetime": f"2023-06-0{row_id} 10:00:00+00",
                        "extra": extra,
                    },
                )
        assert _extra_kinds(engine) == [(False, "null"), (False, '{"clear": 7}'), (True, None)]
        upgrade(engine)
        assert _extra_kinds(engine) == [(True, None), (False, '{"clear": 7}'), (True, None)]
    finally:
        engine.dispose()
