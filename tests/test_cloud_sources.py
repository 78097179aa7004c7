"""Where a date's cloud mask comes from, and the guards around the cloud model.

* L2A with a scene classification (SCL): ``cloud_source == "scl"``, ``cloud_fraction`` is the
  share of SCL classes 8, 9, 10 (cloud medium/high probability, thin cirrus) among the valid
  pixels, ``pixels.shadow`` counts class 3; the model (trained on L1C) gives no
  ``cloud_probability`` and a warning says so, naming L2A.
* Digital numbers mislabelled as reflectance (``raster:bands`` scale 1, offset 0): no
  ``cloud_probability`` and no ``cloud_fraction``, with a warning that the input looks like DN.
* An L1C scene without one of the model's bands (B10): no ``cloud_fraction``, no source.

Scenes are 20 x 20 pixels of 10 m (EPSG:32633, upper left (500000, 5000000)); SCL is 10 x 10
pixels of 20 m, so each 10 m pixel takes the SCL class of the 20 m pixel holding its centre.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from fis.catalog.stac import scene_from_item
from fis.core.bands import BANDS
from fis.demo.synthetic import BandRaster, grid_transform, reflectance_to_dn, write_stac_scene
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from handrasters import CLEAR, CLOUDY, make_request, ring

UTC = dt.UTC
X0, Y0 = 500000.0, 5000000.0
N = 20  # 10 m pixels per side
WHEN = dt.datetime(2023, 6, 5, 10, 0, tzinfo=UTC)
TIME_RANGE = {"from": "2023-06-01", "to": "2023-06-30"}


def scl_classes() -> np.ndarray:
    """10 x 10 SCL pixels of 20 m: rows of known classes (see the hand count in the test)."""
    scl = np.full((N // 2, N // 2), 4, dtype=np.uint8)  # 4 = vegetation
    scl[0, :] = 8  # cloud medium probability
    scl[1, :5] = 9  # cloud high probability
    scl[2, :3] = 10  # thin cirrus
    scl[3, :4] = 3  # cloud shadow
    scl[4, :2] = 7  # unclassified: not cloud
    scl[9, :] = 0  # no data (the bands are no data there too)
    return scl


def write_l2a_scene(out_dir: Path, scene_id: str, *, with_scl: bool = True, when: dt.datetime = WHEN) -> Path:
    """An L2A scene: the 12 L2A bands (no B10) at 10 m holding the clear spectrum, and an SCL asset."""
    nodata_rows = slice(18, 20)  # the 10 m rows under SCL row 9
    rasters = {}
    for band in BANDS:
        if band == "B10":
            continue
        refl = np.full((N, N), CLEAR[band])
        refl[nodata_rows, :] = np.nan
        rasters[band] = BandRaster(reflectance_to_dn(refl, processing_baseline="05.09"), grid_transform(X0, Y0, 10.0))
    item_path = write_stac_scene(
        out_dir, scene_id, when, rasters, processing_baseline="05.09",
        extra_properties={"s2:product_type": "S2MSI2A"},
    )
    if with_scl:
        scl_path = item_path.parent / "SCL.tif"
        profile = {"driver": "GTiff", "width": N // 2, "height": N // 2, "count": 1, "dtype": "uint8",
                   "crs": "EPSG:32633", "transform": grid_transform(X0, Y0, 20.0), "nodata": 0}
        with rasterio.open(scl_path, "w", **profile) as dst:
            dst.write(scl_classes(), 1)
        item = json.loads(item_path.read_text())
        item["assets"]["scl"] = {  # as on Earth Search v1 / sentinel-2-l2a
            "href": "./SCL.tif",
            "type": "image/tiff; application=geotiff",
            "title": "Scene classification map (SCL)",
            "roles": ["data", "reflectance"],
            "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        }
        item_path.write_text(json.dumps(item))
    return item_path


def record(item_path: Path) -> Any:
    return scene_from_item(json.loads(item_path.read_text()), base_href=str(item_path))


def whole_scene() -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring(X0, Y0 - 10 * N, X0 + 10 * N, Y0)]}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_model("s2cloudless-v0.1"))


def only(result: Any) -> Any:
    assert result.errors == ()
    assert len(result.observations) == 1
    return result.observations[0]


# ------------------------------------------------------------------------------ L2A


def test_stac_ingest_registers_scl_as_class_codes(tmp_path: Path) -> None:
    scene = record(write_l2a_scene(tmp_path, "L2A"))
    assert scene.product_level == "L2A"
    assert "B10" not in scene.assets
    scl = scene.assets["SCL"]
    assert scl.href.endswith("/L2A/SCL.tif") and scl.resolution == 20
    assert (scl.radiometry.scale, scl.radiometry.offset, scl.radiometry.nodata) == (1.0, 0.0, 0)


def test_l2a_with_scl_uses_the_scene_classification(tmp_path: Path, engine: Engine) -> None:
    scene = record(write_l2a_scene(tmp_path, "L2A"))
    result = engine.compute(make_request(whole_scene(), time_range=TIME_RANGE), [scene])
    obs = only(result)
    assert obs.cloud_source == "scl"
    # hand count on the 10 m grid (every SCL pixel is 2 x 2 pixels of 10 m):
    # 400 pixels, the last two rows (40) no data -> 360 valid;
    # cloudy: SCL row 0 (10 px of class 8) + row 1 cols 0..4 (class 9) + row 2 cols 0..2 (class 10)
    #         = 18 SCL pixels = 72 pixels of 10 m; shadow: row 3 cols 0..3 = 4 SCL pixels = 16
    assert obs.pixels.total == 400 and obs.pixels.valid == 360 and obs.pixels.nodata == 40
    assert obs.pixels.cloudy == 72
    assert obs.pixels.shadow == 16
    assert obs.cloud_fraction == pytest.approx(72 / 360)
    # the model is trained on L1C: no object-level probability, and the series says why
    assert obs.cloud_probability is None
    assert any("L2A" in w and "cloud_probability" in w for w in result.warnings), result.warnings
    # reflectance is read as usual (BOA_ADD_OFFSET via raster:bands)
    assert obs.bands["B04"] == pytest.approx(CLEAR["B04"], abs=1e-6)
    assert obs.bands["B10"] is None


def test_l2a_scl_counts_follow_the_polygon(tmp_path: Path, engine: Engine) -> None:
    scene = record(write_l2a_scene(tmp_path, "L2A"))
    # rows 2..5 (SCL rows 1, 2), cols 0..5 (SCL cols 0..2): SCL row 1 -> class 9 on cols 0..2,
    # SCL row 2 -> class 10 on cols 0..2: all 24 pixels cloudy
    polygon = {"type": "Polygon", "coordinates": [ring(X0, Y0 - 60, X0 + 60, Y0 - 20)]}
    obs = only(engine.compute(make_request(polygon, time_range=TIME_RANGE), [scene]))
    assert obs.pixels.total == obs.pixels.valid == 24 and obs.pixels.cloudy == 24 and obs.pixels.shadow == 0
    assert obs.cloud_fraction == 1.0


def test_l2a_without_scl_has_no_cloud_information(tmp_path: Path, engine: Engine) -> None:
    scene = record(write_l2a_scene(tmp_path, "L2A", with_scl=False))
    result = engine.compute(make_request(whole_scene(), time_range=TIME_RANGE), [scene])
    obs = only(result)
    assert obs.cloud_source is None and obs.cloud_fraction is None and obs.cloud_probability is None
    assert obs.pixels.shadow is None and obs.pixels.valid == 360
    assert any("L2A" in w for w in result.warnings)


def test_l2a_through_the_api(client: Any, app: Any, tmp_path: Path) -> None:
    from fis.services.ingest import ingest

    write_l2a_scene(tmp_path / "archive", "S2A_MSIL2A_20230605_T33TWN")
    report = ingest([str(tmp_path / "archive")], app.extensions["fis"].sessions)
    assert report.failed == [] and report.created == ["S2A_MSIL2A_20230605_T33TWN"]
    response = client.post("/api/v1/timeseries", json={"geometry": whole_scene(), "crs": "EPSG:32633", "time_range": TIME_RANGE, "include_cloudy": True})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    (obs,) = data["observations"]
    assert obs["cloud_source"] == "scl" and obs["cloud_probability"] is None
    assert obs["cloud_fraction"] == pytest.approx(0.2) and obs["pixels"]["shadow"] == 16
    assert any("L2A" in w for w in data["warnings"]), data["warnings"]


# ------------------------------------------------------------------------------ DN-like input


def test_digital_numbers_labelled_as_reflectance_give_no_cloud_numbers(tmp_path: Path, engine: Engine) -> None:
    rasters = {
        band: BandRaster(reflectance_to_dn(np.full((N, N), CLOUDY[band]), processing_baseline="02.14"), grid_transform(X0, Y0, 10.0))
        for band in BANDS
    }
    item_path = write_stac_scene(tmp_path, "DN", WHEN, rasters, processing_baseline="02.14")
    item = json.loads(item_path.read_text())
    for asset in item["assets"].values():
        asset["raster:bands"][0].update(scale=1.0, offset=0.0)  # wrong: the files hold DN
    item_path.write_text(json.dumps(item))
    scene = record(item_path)
    result = engine.compute(make_request(whole_scene(), time_range=TIME_RANGE), [scene])
    obs = only(result)
    assert obs.bands["B04"] == pytest.approx(CLOUDY["B04"] * 10000)  # what the item says
    assert obs.cloud_probability is None and obs.cloud_fraction is None and obs.cloud_source is None
    assert obs.pixels.cloudy == 0 and obs.pixels.valid == 400
    (warning,) = result.warnings
    assert "digital numbers" in warning and "scale/offset" in warning and WHEN.date().isoformat() in warning


def test_reflectance_is_not_mistaken_for_digital_numbers(tmp_path: Path, engine: Engine) -> None:
    # the brightest real reflectance (snow, cloud tops) stays far below the DN guard
    rasters = {
        band: BandRaster(reflectance_to_dn(np.full((N, N), 1.2 if band != "B10" else 0.05), processing_baseline="02.14"), grid_transform(X0, Y0, 10.0))
        for band in BANDS
    }
    scene = record(write_stac_scene(tmp_path, "BRIGHT", WHEN, rasters, processing_baseline="02.14"))
    result = engine.compute(make_request(whole_scene(), time_range=TIME_RANGE), [scene])
    obs = only(result)
    assert result.warnings == ()
    assert obs.cloud_probability is not None and obs.cloud_fraction is not None and obs.cloud_source == "s2cloudless"


# ------------------------------------------------------------------------------ missing model band


def test_l1c_scene_without_b10_has_no_cloud_fraction(tmp_path: Path, engine: Engine) -> None:
    rasters = {
        band: BandRaster(reflectance_to_dn(np.full((N, N), CLOUDY[band]), processing_baseline="02.14"), grid_transform(X0, Y0, 10.0))
        for band in BANDS if band != "B10"
    }
    scene = record(write_stac_scene(tmp_path, "NO_B10", WHEN, rasters, processing_baseline="02.14"))
    assert scene.product_level == "L1C"
    obs = only(engine.compute(make_request(whole_scene(), time_range=TIME_RANGE), [scene]))
    assert obs.cloud_fraction is None and obs.cloud_source is None and obs.cloud_probability is None
    assert obs.pixels.valid == 400 and obs.pixels.cloudy == 0
    assert obs.bands["B10"] is None and obs.bands["B04"] == pytest.approx(CLOUDY["B04"], abs=1e-6)


def test_full_l1c_scene_is_s2cloudless(tmp_path: Path, engine: Engine) -> None:
    rasters = {
        band: BandRaster(reflectance_to_dn(np.full((N, N), CLOUDY[band]), processing_baseline="02.14"), grid_transform(X0, Y0, 10.0))
        for band in BANDS
    }
    scene = record(write_stac_scene(tmp_path, "FULL", WHEN, rasters, processing_baseline="02.14"))
    result = engine.compute(make_request(whole_scene(), time_range=TIME_RANGE), [scene])
    obs = only(result)
    assert obs.cloud_source == "s2cloudless" and obs.cloud_fraction == 1.0 and obs.cloud_probability > 0.9
    assert obs.pixels.shadow is None and result.warnings == ()
