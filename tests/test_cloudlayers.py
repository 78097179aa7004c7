"""Precomputed cloud layers (``fis clouds``): values, registration, idempotence, failures, use.

The archive is the API/CLI archive of tests/fis_archive.py (flat spectra, 600 m scenes) plus
one scene written here, ``GRAD``: 48 x 48 pixels of 10 m with all 13 bands at 10 m, whose upper
left corner (510080, 5000000) lies on the 160 m cell grid, so its layer is exactly 3 x 3 cells of
16 x 16 pixels. Each cell mixes the real clear and cloudy spectra (tests/handrasters.py) in its
own proportion, with a small per-pixel pattern, so every cell has its own block mean and its
own probability; the lower-middle cell has no data in any band. The oracle recomputes every
cell from the DNs written to disk: reflectance = float32(DN / 10000), block mean of the 256
pixels, ``load_model(...).predict`` of that 10-band vector, CLP = round(P * 255).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner, Result
from shapely.geometry import shape

from fis.cli import main
from fis.config import Settings
from fis.core.bands import BANDS
from fis.demo.synthetic import BandRaster, grid_transform, write_stac_scene
from fis.engine.cloudlayers import CLM, CLP, CloudLayerSettings
from fis.engine.clouds import cloud_mask, load_model
from fis_archive import (  # fixtures
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    FIELD_UTM,
    SCENE_CLEAR,
    SCENE_EAST,
    SCENE_IDS,
    SCENE_WEST,
    build_archive,
)
from handrasters import CLEAR, CLOUDY

MODEL = "s2cloudless-v0.1"
GRAD = "S2A_MSIL1C_20230605_GRAD"
GRAD_DATE = "2023-06-05"
GRAD_X0, GRAD_Y0 = 510080.0, 5000000.0  # multiples of 160 m
CELLS = 3
CELL_PX = 16
#: share of the cloudy spectrum per 160 m cell (None = no data in every band)
WEIGHTS: list[list[float | None]] = [[0.0, 0.3, 0.5], [0.65, 0.8, 1.0], [0.45, None, 0.2]]
ALL_IDS = (*SCENE_IDS, GRAD)
UTC = dt.UTC


# --------------------------------------------------------------------------- the archive


def grad_dn() -> dict[str, np.ndarray]:
    """The DNs of GRAD per band (baseline 02.14: reflectance = DN / 10000)."""
    n = CELLS * CELL_PX
    r, c = np.mgrid[0:n, 0:n]
    pattern = ((r * 7 + c * 3) % 5 - 2) * 0.03  # per-pixel texture inside each cell
    out = {}
    for band in BANDS:
        refl = np.zeros((n, n))
        nodata = np.zeros((n, n), dtype=bool)
        for i in range(CELLS):
            for j in range(CELLS):
                w = WEIGHTS[i][j]
                block = (slice(i * CELL_PX, (i + 1) * CELL_PX), slice(j * CELL_PX, (j + 1) * CELL_PX))
                if w is None:
                    nodata[block] = True
                    continue
                share = np.clip(w + pattern[block], 0.0, 1.0)
                refl[block] = CLEAR[band] + share * (CLOUDY[band] - CLEAR[band])
        dn = np.rint(refl * 10000).astype(np.uint16)
        dn[nodata] = 0
        out[band] = dn
    return out


def write_grad(root: Path) -> Path:
    rasters = {band: BandRaster(dn, grid_transform(GRAD_X0, GRAD_Y0, 10.0)) for band, dn in grad_dn().items()}
    return write_stac_scene(root, GRAD, dt.datetime(2023, 6, 5, 10, 0, tzinfo=UTC), rasters, processing_baseline="02.14", mgrs_tile="33TWN")


def expected_probability() -> np.ndarray:
    """P(cloud) per 160 m cell of GRAD from the block means of the stored DNs (NaN: no data)."""
    model = load_model(MODEL)
    dn = grad_dn()
    out = np.full((CELLS, CELLS), np.nan)
    for i in range(CELLS):
        for j in range(CELLS):
            if WEIGHTS[i][j] is None:
                continue
            block = (slice(i * CELL_PX, (i + 1) * CELL_PX), slice(j * CELL_PX, (j + 1) * CELL_PX))
            vector = []
            for band in model.input_bands:
                refl = (dn[band][block].astype(np.float64) * 1e-4).astype(np.float32)  # as the reader does
                vector.append(np.float32(refl.astype(np.float64).mean()))
            out[i, j] = model.predict(np.array([vector], dtype=np.float64))[0]
    return out


@pytest.fixture(scope="module")
def layer_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layer-archive")
    build_archive(root)
    write_grad(root)
    return root


@pytest.fixture
def archive_copy(layer_archive: Path, tmp_path: Path) -> Path:
    """A private copy (for tests that break or change files)."""
    import shutil

    return Path(shutil.copytree(layer_archive, tmp_path / "archive"))


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"FIS_DATABASE_URL": database_url, "FIS_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def ingested_env(env: dict[str, str], root: Path) -> dict[str, str]:
    assert run(env, "db", "upgrade").exit_code == 0
    result = run(env, "ingest", str(root))
    assert result.exit_code == 0, result.output
    return env


def scene(env: dict[str, str], scene_id: str):  # type: ignore[no-untyped-def]
    from fis.services.runtime import Services
    from fis.store.queries import get_scene

    svc = Services.create(Settings(data_dir=Path(env["FIS_DATA_DIR"]), database_url=env["FIS_DATABASE_URL"]))
    try:
        with svc.sessions() as session:
            return get_scene(session, scene_id)
    finally:
        svc.close()


def layer_dir(env: dict[str, str], scene_id: str) -> Path:
    return Path(env["FIS_DATA_DIR"]) / "cloud-layers" / scene_id


def read(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    with rasterio.open(path) as ds:
        return ds.read(1), {"transform": ds.transform, "crs": ds.crs, "nodata": ds.nodata, "mask": ds.read_masks(1),
                            "driver": ds.driver, "dtype": ds.dtypes[0]}


# --------------------------------------------------------------------------- values


def test_clp_is_the_model_on_the_160m_block_means_and_clm_thresholds_it(env: dict[str, str], layer_archive: Path) -> None:
    ingested_env(env, layer_archive)
    result = run(env, "clouds", "--scene", GRAD, "--average-over", "0", "--dilation", "0")
    assert result.exit_code == 0, result.output
    assert "1 scenes computed, 0 already done, 0 failed" in result.output
    record = scene(env, GRAD)
    clp, clp_meta = read(record.assets[CLP].href)
    clm, clm_meta = read(record.assets[CLM].href)

    # the layer is the scene on the 160 m cell grid: 3 x 3 cells, corner on the scene's corner
    assert clp.shape == clm.shape == (CELLS, CELLS)
    assert clp_meta["transform"] == clm_meta["transform"] == grid_transform(GRAD_X0, GRAD_Y0, 160.0)
    assert clp_meta["crs"].to_epsg() == 32633 and clp_meta["dtype"] == clm_meta["dtype"] == "uint8"

    p = expected_probability()
    data = np.isfinite(p)
    assert (p[data] > 0.4).any() and (p[data] <= 0.4).any()  # the scene has cloudy and clear cells
    # one cell by hand: the upper-left cell is the clear spectrum with the texture
    dn = grad_dn()
    vector = [np.float32((dn[b][:16, :16] * 1e-4).astype(np.float32).astype(np.float64).mean()) for b in load_model(MODEL).input_bands]
    p00 = float(load_model(MODEL).predict(np.array([vector], dtype=np.float64))[0])
    assert p00 == p[0, 0] and p00 < 0.4
    assert int(clp[0, 0]) == round(p00 * 255)
    # every cell: CLP = round(P * 255); CLM = 0/1 (P > threshold, no averaging or dilation); 255 without data
    assert np.array_equal(clp[data], np.round(p[data] * 255).astype(np.uint8))
    assert np.array_equal(clm[data], (p[data] > 0.4).astype(np.uint8))
    assert clm[2, 1] == 255 and clm_meta["nodata"] == 255
    assert clp[2, 1] == 0 and clp_meta["mask"][2, 1] == 0 and clp_meta["mask"][data].min() == 255
    assert set(np.unique(clm)) <= {0, 1, 255}


def test_default_recipe_averages_and_dilates_like_the_on_the_fly_mask(env: dict[str, str], layer_archive: Path) -> None:
    ingested_env(env, layer_archive)
    assert run(env, "clouds", "--scene", GRAD).exit_code == 0
    clm, _ = read(scene(env, GRAD).assets[CLM].href)
    p = expected_probability()
    expected = cloud_mask(p, threshold=0.4, average_over=1, dilation_size=1)
    assert np.array_equal(clm == 1, expected)
    assert np.array_equal(clm == 255, ~np.isfinite(p))


# --------------------------------------------------------------------------- registration, idempotence


def test_layers_are_registered_with_their_settings_and_rerun_skips(env: dict[str, str], layer_archive: Path) -> None:
    ingested_env(env, layer_archive)
    result = run(env, "clouds")
    assert result.exit_code == 0, result.output
    assert f"{len(ALL_IDS)} scenes computed, 0 already done, 0 failed" in result.output
    stamps = {}
    for scene_id in ALL_IDS:
        record = scene(env, scene_id)
        layers = record.properties["cloud_layers"]
        assert layers["settings"] == {"model": MODEL, "resolution": 160.0, "threshold": 0.4, "average_over": 1, "dilation_size": 1, "cells": 2}
        assert layers["created"].endswith("Z")
        for name in (CLP, CLM):
            path = Path(record.assets[name].href)
            assert path.is_file() and path.parent == layer_dir(env, scene_id)
            assert record.assets[name].resolution == 160.0
        assert not list(layer_dir(env, scene_id).glob("*.partial"))
        stamps[scene_id] = (layers["created"], os.stat(record.assets[CLP].href).st_mtime_ns)

    again = run(env, "clouds")
    assert again.exit_code == 0
    assert f"0 scenes computed, {len(ALL_IDS)} already done, 0 failed" in again.output
    for scene_id in ALL_IDS:
        record = scene(env, scene_id)
        assert (record.properties["cloud_layers"]["created"], os.stat(record.assets[CLP].href).st_mtime_ns) == stamps[scene_id]

    forced = run(env, "clouds", "--force", "--scene", GRAD, "--scene", SCENE_CLEAR)
    assert forced.exit_code == 0
    assert "2 scenes computed, 0 already done, 0 failed" in forced.output
    for scene_id in ALL_IDS:
        record = scene(env, scene_id)
        changed = record.properties["cloud_layers"]["created"] != stamps[scene_id][0]
        assert changed is (scene_id in (GRAD, SCENE_CLEAR)), scene_id

    # other settings are other layers: computed again, registered with the new settings
    other = run(env, "clouds", "--scene", GRAD, "--threshold", "0.6")
    assert "1 scenes computed" in other.output
    record = scene(env, GRAD)
    assert record.properties["cloud_layers"]["settings"]["threshold"] == 0.6
    assert "t0.6" in Path(record.assets[CLM].href).name


def test_reingest_keeps_registered_layers(env: dict[str, str], layer_archive: Path) -> None:
    ingested_env(env, layer_archive)
    assert run(env, "clouds", "--scene", GRAD).exit_code == 0
    before = scene(env, GRAD)
    assert run(env, "ingest", str(layer_archive)).exit_code == 0
    after = scene(env, GRAD)
    assert after.assets[CLP] == before.assets[CLP] and after.properties["cloud_layers"] == before.properties["cloud_layers"]
    assert "0 scenes computed, 1 already done" in run(env, "clouds", "--scene", GRAD).output


def test_ingest_with_cloud_layers_precomputes_them(env: dict[str, str], layer_archive: Path) -> None:
    assert run(env, "db", "upgrade").exit_code == 0
    result = run(env, "ingest", "--cloud-layers", str(layer_archive))
    assert result.exit_code == 0, result.output
    assert f"cloud layers: {len(ALL_IDS)} computed, 0 already done, 0 not applicable, 0 failed" in result.output
    for scene_id in ALL_IDS:
        assert scene(env, scene_id).properties["cloud_layers"]["settings"]["resolution"] == 160.0
    again = run(env, "ingest", "--cloud-layers", str(layer_archive))
    assert f"cloud layers: 0 computed, {len(ALL_IDS)} already done" in again.output


# --------------------------------------------------------------------------- failures


def test_failing_scene_is_reported_others_are_done_and_the_next_run_retries_it(env: dict[str, str], archive_copy: Path) -> None:
    ingested_env(env, archive_copy)
    victim = archive_copy / SCENE_WEST / "B09.tif"
    saved = victim.read_bytes()
    victim.unlink()
    result = CliRunner().invoke(main, ["clouds"], env=env)
    assert result.exit_code == 1, result.output
    assert f"{len(ALL_IDS) - 1} scenes computed, 0 already done, 1 failed" in result.output
    assert f"FAILED {SCENE_WEST}" in result.output and "B09.tif" in result.output
    west = scene(env, SCENE_WEST)
    assert CLP not in west.assets and "cloud_layers" not in west.properties
    assert not list(layer_dir(env, SCENE_WEST).glob("*.tif"))
    for scene_id in ALL_IDS:
        if scene_id != SCENE_WEST:
            assert "cloud_layers" in scene(env, scene_id).properties

    victim.write_bytes(saved)
    retry = run(env, "clouds")
    assert retry.exit_code == 0, retry.output
    assert f"1 scenes computed, {len(ALL_IDS) - 1} already done, 0 failed" in retry.output
    assert "cloud_layers" in scene(env, SCENE_WEST).properties


def test_unknown_scene_id_fails_with_a_message(env: dict[str, str], layer_archive: Path) -> None:
    ingested_env(env, layer_archive)
    result = CliRunner().invoke(main, ["clouds", "--scene", "NO_SUCH_SCENE"], env=env)
    assert result.exit_code != 0
    assert "NO_SUCH_SCENE" in result.output


@pytest.mark.parametrize("crash", [OSError("No space left on device"), RuntimeError("killed mid-write")])
def test_crash_while_writing_the_second_file_registers_nothing_and_leaves_no_final_file(
    env: dict[str, str], layer_archive: Path, monkeypatch: pytest.MonkeyPatch, crash: Exception
) -> None:
    import fis.engine.cloudlayers as cloudlayers

    ingested_env(env, layer_archive)
    real = cloudlayers._write_cog
    calls: list[Path] = []

    def second_call_crashes(path: Path, *args: Any, **kwargs: Any) -> Path:
        calls.append(path)
        if len(calls) == 2:
            # a partial file exists when the process dies
            path.with_name(path.name + ".partial").write_bytes(b"half a GeoTIFF")
            raise crash
        return real(path, *args, **kwargs)

    monkeypatch.setattr(cloudlayers, "_write_cog", second_call_crashes)
    result = CliRunner().invoke(main, ["clouds", "--scene", GRAD], env=env)
    if isinstance(crash, OSError):  # an I/O error is reported per scene
        assert result.exit_code == 1 and f"FAILED {GRAD}" in result.output and "No space left" in result.output
    else:  # anything else aborts the run
        assert isinstance(result.exception, RuntimeError)
    assert [p.name[:3] for p in calls] == ["CLP", "CLM"]
    record = scene(env, GRAD)
    assert CLP not in record.assets and CLM not in record.assets and "cloud_layers" not in record.properties
    folder = layer_dir(env, GRAD)
    assert not list(folder.glob("*.tif")), list(folder.iterdir())  # no final file, not even the finished CLP
    assert all(p.name.endswith(".partial") for p in folder.iterdir())

    monkeypatch.setattr(cloudlayers, "_write_cog", real)
    retry = run(env, "clouds", "--scene", GRAD)
    assert retry.exit_code == 0 and "1 scenes computed" in retry.output
    record = scene(env, GRAD)
    read(record.assets[CLP].href)
    read(record.assets[CLM].href)


def test_l2a_scene_gets_no_layer_and_says_why(env: dict[str, str], tmp_path: Path) -> None:
    from test_cloud_sources import write_l2a_scene

    root = tmp_path / "l2a"
    write_l2a_scene(root, "S2A_MSIL2A_20230605_T33TWN")
    ingested_env(env, root)
    result = CliRunner().invoke(main, ["clouds"], env=env)
    # not a failure: the model does not apply to L2A (its cloud source is SCL); re-runs stay green
    assert result.exit_code == 0, result.output
    assert "1 not applicable (not L1C" in result.output and "FAILED" not in result.output


# --------------------------------------------------------------------------- the request path


def grad_polygon(x0: float = GRAD_X0, y0: float = GRAD_Y0, x1: float = GRAD_X0 + 480, y1: float = GRAD_Y0 - 480) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y1], [x1, y1], [x1, y0], [x0, y0], [x0, y1]]]}


def post(client: Any, geometry: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"geometry": geometry, "crs": "EPSG:32633", "time_range": {"from": "2023-06-01", "to": "2023-06-30"}, "include_cloudy": True, **extra}
    response = client.post("/api/v1/timeseries", json=body)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["errors"] == [], data["errors"]
    return data


@pytest.fixture
def layered(app: Any, layer_archive: Path) -> Any:
    """The app with the archive ingested and default layers computed for every scene but SCENE_EAST."""
    from fis.services.ingest import ingest

    svc = app.extensions["fis"]
    assert ingest([str(layer_archive)], svc.sessions).failed == []
    report = svc.compute_cloud_layers(CloudLayerSettings(model=MODEL), scene_ids=[s for s in ALL_IDS if s != SCENE_EAST])
    assert report.failed == [] and len(report.computed) == len(ALL_IDS) - 1
    return app


def test_requests_use_matching_layers_and_compute_otherwise(layered: Any) -> None:
    from fis.engine.engine import Engine

    client = layered.test_client()
    fields = {
        "grad": grad_polygon(),
        "grad-part": grad_polygon(GRAD_X0 + 75, GRAD_Y0 - 35, GRAD_X0 + 400, GRAD_Y0 - 333),
        "archive": json.loads(json.dumps(FIELD_UTM)),
    }
    for name, geometry in fields.items():
        layers = {o["date"]: o for o in post(client, geometry)["observations"]}
        fly = {o["date"]: o for o in post(client, geometry, cloud_threshold=0.41)["observations"]}
        assert set(layers) == set(fly)
        for date, obs in layers.items():
            # every scene of the date has a matching layer -> precomputed; the mosaic date has a
            # tile without one -> computed on the fly; another threshold -> always on the fly
            expected = "s2cloudless" if date == DATE_MOSAIC else "precomputed"
            assert obs["cloud_source"] == expected, (name, date)
            assert fly[date]["cloud_source"] == "s2cloudless", (name, date)
        if name == "archive":
            assert layers[DATE_CLOUDY]["cloud_fraction"] == 1.0 and layers[DATE_CLEAR]["cloud_fraction"] == 0.0

    # same settings, layers or not: the same mask (same cells, same recipe), the same counts
    svc = layered.extensions["fis"]
    from fis.store.queries import find_scenes
    from handrasters import make_request

    for geometry in fields.values():
        request = make_request(geometry, time_range={"from": "2023-06-01", "to": "2023-06-30"})
        with svc.sessions() as session:
            scenes = find_scenes(session, request.aoi.geometry_4326, request.time_range)
        with_layers = svc.engine.compute(request, scenes)
        without = Engine(svc.engine.model, use_cloud_layers=False).compute(request, scenes)
        assert [o.cloud_source for o in without.observations] == ["s2cloudless"] * len(without.observations)
        for a, b in zip(with_layers.observations, without.observations):
            assert (a.date, a.pixels, a.cloud_fraction, a.cloud_probability) == (b.date, b.pixels, b.cloud_fraction, b.cloud_probability)
        # the per-pixel probability the layer carries is the model's, to CLP's 1/255 step
        pixels_with = {i.date: i.outcome for i in svc.engine.iter_dates(request, scenes)}
        pixels_without = {i.date: i.outcome for i in Engine(svc.engine.model, use_cloud_layers=False).iter_dates(request, scenes)}
        for date, outcome in pixels_with.items():
            a, b = outcome.probability, pixels_without[date].probability
            assert np.array_equal(np.isfinite(a), np.isfinite(b)), date
            assert np.allclose(a, b, atol=0.5 / 255 + 1e-6, equal_nan=True), date


def test_grad_cloud_fraction_by_hand(layered: Any) -> None:
    client = layered.test_client()
    obs = {o["date"]: o for o in post(client, grad_polygon())["observations"]}[GRAD_DATE]
    assert obs["cloud_source"] == "precomputed"
    p = expected_probability()
    mask = cloud_mask(p, threshold=0.4, average_over=1, dilation_size=1)
    # 8 cells of 256 valid pixels; the no-data cell is nodata
    assert obs["pixels"]["total"] == 48 * 48 and obs["pixels"]["valid"] == 8 * 256
    assert obs["pixels"]["cloudy"] == int(mask.sum()) * 256
    assert obs["cloud_fraction"] == pytest.approx(mask.sum() / 8)


#: a very clear spectrum: P(cloud) ~ 0.0005, so its CLP is 0 (B03, B06, B07 are not model bands)
VERY_CLEAR: dict[str, float] = {
    "B01": 0.0773, "B02": 0.0636, "B03": 0.05, "B04": 0.0192, "B05": 0.2493, "B06": 0.27, "B07": 0.28,
    "B08": 0.2904, "B8A": 0.3418, "B09": 0.0513, "B10": 0.0013, "B11": 0.3094, "B12": 0.073,
}


def test_clp_zero_is_a_clear_probability_not_no_data(app: Any, tmp_path: Path) -> None:
    from fis.engine.engine import Engine
    from fis.services.ingest import ingest
    from fis.store.queries import find_scenes
    from handrasters import make_request

    rasters = {
        band: BandRaster(np.full((32, 32), round(VERY_CLEAR[band] * 10000), dtype=np.uint16), grid_transform(GRAD_X0, GRAD_Y0, 10.0))
        for band in BANDS
    }
    write_stac_scene(tmp_path / "archive", "DARK", dt.datetime(2023, 6, 7, 10, tzinfo=UTC), rasters, processing_baseline="02.14")
    svc = app.extensions["fis"]
    assert ingest([str(tmp_path / "archive")], svc.sessions).failed == []
    assert svc.compute_cloud_layers(CloudLayerSettings(model=MODEL)).computed == ["DARK"]
    request = make_request(grad_polygon(x1=GRAD_X0 + 320, y1=GRAD_Y0 - 320), time_range={"from": "2023-06-01", "to": "2023-06-30"})
    with svc.sessions() as session:
        scenes = find_scenes(session, request.aoi.geometry_4326, request.time_range)
    clp, _ = read(scenes[0].assets[CLP].href)
    assert (clp == 0).all()
    (layers,) = svc.engine.iter_dates(request, scenes)
    (fly,) = Engine(svc.engine.model, use_cloud_layers=False).iter_dates(request, scenes)
    assert layers.outcome.cloud_source == "precomputed" and fly.outcome.cloud_source == "s2cloudless"
    assert np.isfinite(layers.outcome.probability).all() and (layers.outcome.probability == 0).all()
    assert np.isfinite(fly.outcome.probability).all() and (fly.outcome.probability < 0.5 / 255).all()
    assert not layers.outcome.cloudy.any() and not fly.outcome.cloudy.any()


def test_missing_layer_file_fails_only_its_date(layered: Any) -> None:
    svc = layered.extensions["fis"]
    from fis.store.queries import get_scene

    with svc.sessions() as session:
        record = get_scene(session, GRAD)
    Path(record.assets[CLM].href).unlink()
    data = layered.test_client().post(
        "/api/v1/timeseries",
        json={"geometry": grad_polygon(), "crs": "EPSG:32633", "time_range": {"from": GRAD_DATE, "to": GRAD_DATE}},
    ).get_json()
    assert data["status"] in ("PARTIAL", "FAILED") and data["observations"] == []
    assert "CLM" in data["errors"][0]["message"]


@pytest.mark.parametrize("options", [{}, {"aggregation": {"interval": "P1D"}}], ids=["per-date", "aggregated"])
def test_a_series_reads_the_clm_layer_only(layered: Any, options: dict[str, Any]) -> None:
    """The series' per-pixel numbers need the mask, not the probability: with the CLP file gone
    a series (per date or aggregated) is computed from the CLM alone, while FIS' CLP layer fails."""
    svc = layered.extensions["fis"]
    from fis.store.queries import get_scene

    client = layered.test_client()
    before = post(client, grad_polygon(), time_range={"from": GRAD_DATE, "to": GRAD_DATE}, **options)
    assert client.delete(f"/api/v1/timeseries/{before['id']}").status_code == 204  # nothing stored to reuse
    with svc.sessions() as session:
        record = get_scene(session, GRAD)
    Path(record.assets[CLP].href).unlink()
    after = post(client, grad_polygon(), time_range={"from": GRAD_DATE, "to": GRAD_DATE}, **options)
    assert after["errors"] == [] and len(after["observations"]) == 1
    assert after["observations"][0]["cloud_source"] == "precomputed"
    assert after["observations"] == before["observations"]
    fis = client.get("/ogc/fis", query_string={
        "LAYER": "CLP", "CRS": "EPSG:32633", "TIME": f"{GRAD_DATE}/{GRAD_DATE}", "RESOLUTION": "10m",
        "GEOMETRY": shape(grad_polygon()).wkt,
    })
    assert fis.status_code == 200 and fis.get_json() == {"C0": [], "C1": []}
    assert "CLP" in fis.headers["X-Fis-Omitted-Dates"]


# --------------------------------------------------------------------------- the API


def test_scene_endpoint_shows_the_registered_layer(layered: Any) -> None:
    client = layered.test_client()
    feature = client.get(f"/api/v1/scenes/{GRAD}").get_json()
    assert feature["id"] == GRAD
    assert feature["properties"]["cloud_layers"]["settings"]["threshold"] == 0.4
    bare = client.get(f"/api/v1/scenes/{SCENE_EAST}").get_json()
    assert bare["properties"]["cloud_layers"] is None


@pytest.mark.parametrize("layer", ["clp", "clm", "CLP"])
def test_layer_download_is_a_readable_geotiff(layered: Any, layer: str) -> None:
    client = layered.test_client()
    with client.get(f"/api/v1/scenes/{GRAD}/{layer}") as response:  # send_file streams: close it
        assert response.status_code == 200
        assert response.mimetype == "image/tiff"
        assert f"{GRAD}_{layer.upper()}.tif" in response.headers["Content-Disposition"]
        payload = response.get_data()
    with rasterio.MemoryFile(io.BytesIO(payload)) as memory, memory.open() as ds:
        values = ds.read(1)
        assert ds.crs.to_epsg() == 32633 and ds.transform == grid_transform(GRAD_X0, GRAD_Y0, 160.0)
    p = expected_probability()
    data = np.isfinite(p)
    if layer.upper() == "CLP":
        assert np.array_equal(values[data], np.round(p[data] * 255).astype(np.uint8))
    else:
        assert np.array_equal(values, np.where(data, cloud_mask(p, threshold=0.4), 255).astype(np.uint8))


def test_layer_download_404s_with_a_json_error(layered: Any) -> None:
    client = layered.test_client()
    for url, needle in [
        (f"/api/v1/scenes/{SCENE_EAST}/clp", "fis clouds"),  # scene without layers
        (f"/api/v1/scenes/{SCENE_EAST}/clm", "fis clouds"),
        ("/api/v1/scenes/NO_SUCH_SCENE/clm", "NO_SUCH_SCENE"),
        ("/api/v1/scenes/NO_SUCH_SCENE", "NO_SUCH_SCENE"),
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.is_json, url
        body = response.get_json()
        assert needle in json.dumps(body), (url, body)
    # an unknown layer name is not a route
    assert client.get(f"/api/v1/scenes/{GRAD}/ndvi").status_code == 404
