"""SAFE ingest: the real MTD files in ../shared/data/metadata, and generated SAFE products (dirs and zips).

Generated products (tests/safeproducts.py) hold known reflectances encoded as
``DN = reflectance * 10000 - ADD_OFFSET``: with baseline 05.09 (RADIO_ADD_OFFSET -1000) a reflectance
of 0.0423 is DN 1423, with baseline 03.01 (no offset) DN 423. Both must give the same means.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fis.catalog.safe import scene_from_safe
from fis.catalog.safe_metadata import band_files, parse_product_metadata
from fis.catalog.sources import discover_sources, read_scenes
from fis.core.bands import BANDS
from fis.core.radiometry import Radiometry
from fis.core.request import parse_timeseries_request
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from fis.errors import IngestError
from fis.services.ingest import ingest
from fis.store.queries import count_scenes, find_scenes
from handrasters import CLEAR
from safeproducts import (
    SIZE_M,
    WHEN,
    X0,
    Y0,
    copy_safe,
    jp2_available,
    reflectance_grid,
    write_safe,
    zip_safe,
)

UTC = dt.UTC
TOL = 1e-6  # float32 reflectance
ALL_13 = {band: -1000.0 for band in BANDS}


@pytest.fixture(scope="module")
def metadata(shared_data: Path) -> Path:
    return shared_data / "metadata"


# ------------------------------------------------------------------------------ real metadata files

REAL = {
    # file: level, baseline, start time, spacecraft, relative orbit, tile, offsets, #image files, footprint type
    "MTD_MSIL1C_N0206_T31TDH.xml": ("L1C", "02.06", dt.datetime(2018, 1, 1, 10, 54, 41, 26000, tzinfo=UTC), "Sentinel-2A", 51, "31TDH", {}, 14, "Polygon"),
    "MTD_MSIL1C_N0209_T01LAC.xml": ("L1C", "02.09", dt.datetime(2020, 7, 17, 22, 19, 41, 24000, tzinfo=UTC), "Sentinel-2A", 29, "01LAC", {}, 14, "MultiPolygon"),
    "MTD_MSIL1C_N0301_T46RER.xml": ("L1C", "03.01", dt.datetime(2021, 9, 8, 4, 27, 1, 24000, tzinfo=UTC), "Sentinel-2A", 133, "46RER", {}, 14, "Polygon"),
    "MTD_MSIL1C_N0509_T34UCF_excerpt.xml": ("L1C", "05.09", dt.datetime(2023, 8, 23, 9, 55, 59, 24000, tzinfo=UTC), "Sentinel-2B", 122, "34UCF", ALL_13, 0, "Polygon"),
    "MTD_MSIL2A_N0400_T33XWJ.xml": ("L2A", "04.00", dt.datetime(2022, 4, 13, 15, 7, 59, 24000, tzinfo=UTC), "Sentinel-2B", 25, "33XWJ", ALL_13, 36, "Polygon"),
    "MTD_MSIL2A_N0509_T01KAB.xml": ("L2A", "05.09", dt.datetime(2023, 8, 21, 22, 19, 41, 24000, tzinfo=UTC), "Sentinel-2A", 29, "01KAB", ALL_13, 36, "MultiPolygon"),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_product_metadata_parses_to_the_right_values(metadata: Path, name: str) -> None:
    level, baseline, start, spacecraft, orbit, tile, offsets, n_files, footprint_type = REAL[name]
    meta = parse_product_metadata((metadata / name).read_bytes(), name=name)
    assert meta.product_level == level
    assert meta.processing_baseline == baseline
    assert meta.datetime == start
    assert meta.spacecraft == spacecraft and meta.platform == spacecraft.lower()
    assert meta.relative_orbit == orbit
    assert meta.tile == tile
    assert meta.quantification_value == 10000.0
    assert meta.add_offsets == offsets
    assert meta.nodata == 0
    assert len(meta.image_files) == n_files
    assert meta.product_uri is not None and f"_T{tile}_" in meta.product_uri and f"_N{baseline.replace('.', '')}_" in meta.product_uri
    assert meta.footprint is not None and meta.footprint.geom_type == footprint_type and meta.footprint.is_valid
    min_lon, min_lat, max_lon, max_lat = meta.footprint.bounds
    assert -180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90
    # the one radiometric rule, from the metadata: (DN + offset) / 10000
    expected_offset = -0.1 if offsets else 0.0
    for band in BANDS:
        assert meta.radiometry(band) == Radiometry(scale=1e-4, offset=expected_offset, nodata=0)
    assert meta.radiometry("B04").to_reflectance(np.array([1423], dtype=np.uint16))[0] == pytest.approx(
        0.0423 if offsets else 0.1423, abs=1e-7
    )


def test_real_footprint_is_lon_lat_not_lat_lon(metadata: Path) -> None:
    # T31TDH (southern France / Catalonia): EXT_POS_LIST starts "43.35 2.76" = lat lon
    meta = parse_product_metadata((metadata / "MTD_MSIL1C_N0206_T31TDH.xml").read_bytes())
    min_lon, min_lat, max_lon, max_lat = meta.footprint.bounds
    assert 1.7 < min_lon < max_lon < 2.8 and 42.3 < min_lat < max_lat < 43.4


@pytest.mark.parametrize("name", ["MTD_MSIL1C_N0209_T01LAC.xml", "MTD_MSIL2A_N0509_T01KAB.xml"])
def test_antimeridian_footprint_is_split_not_wrapped_round_the_world(metadata: Path, name: str) -> None:
    from shapely.geometry import Point

    meta = parse_product_metadata((metadata / name).read_bytes())
    footprint = meta.footprint
    assert footprint.geom_type == "MultiPolygon" and len(footprint.geoms) == 2
    assert footprint.area < 2.0  # a 110 km tile, not a 359-degree band
    lat = sum(footprint.bounds[1::2]) / 2
    assert footprint.contains(Point(179.6, lat)) and footprint.contains(Point(-179.8, lat))
    assert not footprint.contains(Point(0.0, lat))


def test_real_l1c_band_files_are_the_13_bands(metadata: Path) -> None:
    meta = parse_product_metadata((metadata / "MTD_MSIL1C_N0301_T46RER.xml").read_bytes())
    files = band_files(meta)
    assert sorted(files) == sorted(BANDS)  # TCI is not a band
    assert files["B04"] == ("GRANULE/L1C_T46RER_A032448_20210908T043714/IMG_DATA/T46RER_20210908T042701_B04", 10.0)
    assert files["B8A"][1] == 20.0 and files["B10"][1] == 60.0


@pytest.mark.parametrize("name", ["MTD_MSIL2A_N0400_T33XWJ.xml", "MTD_MSIL2A_N0509_T01KAB.xml"])
def test_real_l2a_band_files_at_native_resolution_with_scl(metadata: Path, name: str) -> None:
    meta = parse_product_metadata((metadata / name).read_bytes())
    files = band_files(meta)
    assert sorted(files) == sorted([b for b in BANDS if b != "B10"] + ["SCL"])  # L2A has no B10
    for band, (path, resolution) in files.items():
        native = 20 if band == "SCL" else {"B01": 60, "B09": 60, "B02": 10, "B03": 10, "B04": 10, "B08": 10}.get(band, 20)
        assert resolution == native, band
        assert path.endswith(f"_{band}_{native}m") and f"/R{native}m/" in path, path


# ------------------------------------------------------------------------------ bad metadata


def _edited(metadata: Path, name: str, old: str, new: str) -> bytes:
    text = (metadata / name).read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new).encode("utf-8")


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("<PROCESSING_BASELINE>02.06</PROCESSING_BASELINE>", "<PROCESSING_BASELINE>99.99</PROCESSING_BASELINE>", ["'99.99'", "unknown"]),
        ("<PROCESSING_BASELINE>02.06</PROCESSING_BASELINE>", "<PROCESSING_BASELINE>N/A</PROCESSING_BASELINE>", ["'N/A'", "cannot be parsed"]),
        ("<PROCESSING_BASELINE>02.06</PROCESSING_BASELINE>", "", ["PROCESSING_BASELINE is missing"]),
        ('<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>', "", ["QUANTIFICATION_VALUE"]),
        ("<PRODUCT_START_TIME>2018-01-01T10:54:41.026Z</PRODUCT_START_TIME>", "<PRODUCT_START_TIME>yesterday</PRODUCT_START_TIME>", ["'yesterday'"]),
    ],
)
def test_bad_real_metadata_is_an_error_naming_the_file(metadata: Path, old: str, new: str, words: list[str]) -> None:
    data = _edited(metadata, "MTD_MSIL1C_N0206_T31TDH.xml", old, new)
    with pytest.raises(IngestError) as info:
        parse_product_metadata(data, name="/data/X.SAFE/MTD_MSIL1C.xml")
    assert info.value.message.startswith("/data/X.SAFE/MTD_MSIL1C.xml: ")
    for word in words:
        assert word in info.value.message


def test_offset_baseline_without_offset_list_is_refused(metadata: Path) -> None:
    text = (metadata / "MTD_MSIL1C_N0509_T34UCF_excerpt.xml").read_text(encoding="utf-8")
    data = re.sub(r"<Radiometric_Offset_List>.*?</Radiometric_Offset_List>", "", text, flags=re.S).encode()
    with pytest.raises(IngestError, match=r"05\.09.*RADIO_ADD_OFFSET.*lists none"):
        parse_product_metadata(data, name="MTD_MSIL1C.xml")


def test_truncated_metadata_xml(metadata: Path) -> None:
    data = (metadata / "MTD_MSIL2A_N0400_T33XWJ.xml").read_bytes()
    with pytest.raises(IngestError, match=r"^MTD_MSIL2A.xml: metadata XML cannot be parsed"):
        parse_product_metadata(data[: len(data) // 2], name="MTD_MSIL2A.xml")


# ------------------------------------------------------------------------------ generated products


def spectrum_grids() -> dict[str, np.ndarray]:
    """CLEAR (a real clear scene mean) with a 1e-4 per pixel gradient on every band, at native resolution."""
    return {band: reflectance_grid(CLEAR[band], band, gradient=0.0001) for band in BANDS}


@pytest.fixture(scope="module")
def model():
    return load_model("s2cloudless-v0.1")


@pytest.fixture
def engine(model):
    eng = Engine(model)
    yield eng
    eng.cache.close()


def whole_product_request():
    inset = 2.0
    ring = [[X0 + inset, Y0 - SIZE_M + inset], [X0 + SIZE_M - inset, Y0 - SIZE_M + inset],
            [X0 + SIZE_M - inset, Y0 - inset], [X0 + inset, Y0 - inset], [X0 + inset, Y0 - SIZE_M + inset]]
    return parse_timeseries_request(
        {"geometry": {"type": "Polygon", "coordinates": [ring]}, "crs": "EPSG:32633",
         "time_range": {"from": "2023-05-01", "to": "2023-06-30"}}
    )


def only(result):
    assert result.errors == (), result.errors
    assert len(result.observations) == 1
    return result.observations[0]


def test_generated_l1c_product_records(tmp_path: Path) -> None:
    safe = write_safe(tmp_path, spectrum_grids(), baseline="05.09")
    scene = scene_from_safe(safe)
    assert scene.id == safe.name.removesuffix(".SAFE")
    assert scene.datetime == WHEN and scene.date == dt.date(2023, 6, 1)
    assert scene.product_level == "L1C" and scene.processing_baseline == "05.09"
    assert scene.tile == "33TWN" and scene.crs == "EPSG:32633" and scene.platform == "sentinel-2a"
    assert sorted(scene.assets) == sorted(BANDS)
    for band, asset in scene.assets.items():
        assert asset.radiometry == Radiometry(scale=1e-4, offset=-0.1, nodata=0)
        assert Path(asset.href).is_file() and Path(asset.href).is_absolute()
        assert asset.href.endswith(f"_{band}.jp2" if jp2_available() else f"_{band}.tif")
    assert {b: a.resolution for b, a in scene.assets.items()}["B01"] == 60.0
    assert scene.properties["spacecraft"] == "Sentinel-2A"
    assert scene.properties["relative_orbit"] == 22
    assert scene.properties["product_uri"] == safe.name
    assert scene.properties["quantification_value"] == 10000.0
    # footprint from EXT_POS_LIST (lat lon) is the 120 m square in lon/lat
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(X0 + 60, Y0 - 60)
    from shapely.geometry import Point

    assert scene.footprint.contains(Point(lon, lat))


def test_offset_baseline_and_no_offset_baseline_give_the_same_reflectance(tmp_path: Path, engine: Engine) -> None:
    grids = spectrum_grids()
    new = scene_from_safe(write_safe(tmp_path / "new", grids, baseline="05.09"))
    old = scene_from_safe(write_safe(tmp_path / "old", grids, baseline="03.01"))
    # the files really differ by 1000 DN; the metadata's offset undoes it
    import rasterio

    with rasterio.open(new.assets["B04"].href) as a, rasterio.open(old.assets["B04"].href) as b:
        assert (a.read(1).astype(int) - b.read(1).astype(int) == 1000).all()
        assert int(a.read(1)[0, 0]) == round(CLEAR["B04"] * 10000) + 1000
    assert new.assets["B04"].radiometry.offset == -0.1 and old.assets["B04"].radiometry.offset == 0.0

    request = whole_product_request()
    obs_new, obs_old = only(engine.compute(request, [new])), only(engine.compute(request, [old]))
    assert obs_new.pixels.total == obs_new.pixels.valid == 144
    for band in BANDS:
        assert obs_new.bands[band] == pytest.approx(grids[band].mean(), abs=TOL), band
        assert obs_old.bands[band] == pytest.approx(obs_new.bands[band], abs=TOL), band
    assert obs_new.ndvi["mean"] == pytest.approx(obs_old.ndvi["mean"], abs=1e-6)
    assert obs_new.cloud_probability == pytest.approx(obs_old.cloud_probability, abs=1e-6)
    assert obs_new.cloud_probability < 0.4 and obs_new.cloud_fraction == obs_old.cloud_fraction == 0.0


def test_zipped_and_unzipped_products_give_identical_results(tmp_path: Path, engine: Engine) -> None:
    safe = write_safe(tmp_path, spectrum_grids(), baseline="05.09")
    archive = zip_safe(safe, tmp_path / "zipped" / (safe.stem + ".zip"))
    unzipped, zipped = scene_from_safe(safe), scene_from_safe(archive)
    assert zipped.id == unzipped.id
    assert all(a.href.startswith(f"/vsizip/{archive.resolve()}/{safe.name}/GRANULE/") for a in zipped.assets.values())
    assert {b: a.radiometry for b, a in zipped.assets.items()} == {b: a.radiometry for b, a in unzipped.assets.items()}
    assert zipped.footprint.equals(unzipped.footprint) and zipped.crs == unzipped.crs and zipped.datetime == unzipped.datetime
    request = whole_product_request()
    assert only(engine.compute(request, [zipped])) == only(engine.compute(request, [unzipped]))


def test_l2a_product_native_bands_scl_and_boa_offset(tmp_path: Path, engine: Engine) -> None:
    grids = {b: g for b, g in spectrum_grids().items() if b != "B10"}
    scl = np.full((6, 6), 4, dtype=np.uint8)
    scl[:3, :] = 9  # cloud high probability on the northern half
    scene = scene_from_safe(write_safe(tmp_path, grids, level="L2A", baseline="05.09", scl=scl))
    assert scene.product_level == "L2A"
    assert sorted(scene.assets) == sorted([b for b in BANDS if b != "B10"] + ["SCL"])
    assert scene.assets["SCL"].radiometry == Radiometry(scale=1.0, offset=0.0, nodata=0)
    assert scene.assets["B04"].radiometry == Radiometry(scale=1e-4, offset=-0.1, nodata=0)  # BOA_ADD_OFFSET
    assert "/R10m/" in scene.assets["B04"].href and "/R60m/" in scene.assets["B01"].href
    assert "/R20m/" in scene.assets["SCL"].href
    obs = only(engine.compute(whole_product_request(), [scene]))
    # the resampled copies (R20m/B04_20m, ...) hold +0.05: the native files were read
    for band in grids:
        assert obs.bands[band] == pytest.approx(grids[band].mean(), abs=TOL), band
    assert obs.bands["B10"] is None
    assert obs.cloud_fraction == pytest.approx(0.5)  # SCL class 9 on half the pixels


def test_safe_given_by_its_metadata_file(tmp_path: Path) -> None:
    safe = write_safe(tmp_path, spectrum_grids())
    assert scene_from_safe(safe / "MTD_MSIL1C.xml") == scene_from_safe(safe)


def test_geotiff_band_files_when_the_metadata_says_geotiff(tmp_path: Path, engine: Engine) -> None:
    grids = spectrum_grids()
    scene = scene_from_safe(write_safe(tmp_path, grids, jp2=False))
    assert scene.assets["B04"].href.endswith("_B04.tif")
    obs = only(engine.compute(whole_product_request(), [scene]))
    assert obs.bands["B04"] == pytest.approx(grids["B04"].mean(), abs=TOL)


# ------------------------------------------------------------------------------ bad products, discovery, ingest


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One directory with good and broken products side by side (and a STAC item)."""
    from handrasters import write_scene

    root = tmp_path_factory.mktemp("safe-archive")
    work = tmp_path_factory.mktemp("safe-work")
    grids = spectrum_grids()
    out: dict[str, Path] = {"root": root}
    out["good_dir"] = write_safe(root, grids, baseline="05.09")
    out["good_zip"] = zip_safe(write_safe(work, grids, baseline="03.01", when=WHEN + dt.timedelta(days=5)),
                               root / "S2A_MSIL1C_good.zip")
    out["l2a"] = write_safe(root, {b: g for b, g in grids.items() if b != "B10"}, level="L2A", when=WHEN + dt.timedelta(days=10))
    (out["good_dir"] / "stray.json").write_text("{}")  # must not be picked up: SAFE dirs are not descended into
    # broken ones
    out["corrupt_zip"] = root / "S2B_MSIL1C_corrupt.zip"
    out["corrupt_zip"].write_bytes(b"PK\x03\x04 this is not really a zip file" * 10)
    whole = zip_safe(write_safe(work, grids, when=WHEN + dt.timedelta(days=15)), work / "whole.zip").read_bytes()
    out["truncated_zip"] = root / "S2A_MSIL1C_truncated.zip"
    out["truncated_zip"].write_bytes(whole[: len(whole) // 2])
    missing = write_safe(work, grids, when=WHEN + dt.timedelta(days=20))
    next(missing.rglob("*_B8A.*")).unlink()
    out["missing_band"] = copy_safe(missing, root)
    unknown = write_safe(work, grids, when=WHEN + dt.timedelta(days=25))
    mtd = unknown / "MTD_MSIL1C.xml"
    mtd.write_text(mtd.read_text().replace("<PROCESSING_BASELINE>05.09<", "<PROCESSING_BASELINE>07.00<"))
    out["unknown_baseline"] = copy_safe(unknown, root)
    out["stac"] = Path(write_scene(root / "stac", "STAC_SCENE").source)
    return out


def test_discovery_finds_safe_dirs_zips_and_json_side_by_side(products: dict[str, Path]) -> None:
    found = list(discover_sources([str(products["root"])]))
    expected = {str(products[k]) for k in ("good_dir", "good_zip", "l2a", "corrupt_zip", "truncated_zip", "missing_band", "unknown_baseline", "stac")}
    assert set(found) == expected
    assert not any("stray.json" in f for f in found)
    # a SAFE directory argument is a source itself
    assert list(discover_sources([str(products["good_dir"])])) == [str(products["good_dir"])]


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("corrupt_zip", ["S2B_MSIL1C_corrupt.zip", "not a readable zip file"]),
        ("truncated_zip", ["S2A_MSIL1C_truncated.zip", "not a readable zip file", "truncated"]),
        ("missing_band", ["_B8A.jp2" if jp2_available() else "_B8A.tif", "band B8A file is missing"]),
        ("unknown_baseline", ["MTD_MSIL1C.xml", "'07.00'", "unknown"]),
    ],
)
def test_broken_product_is_reported_by_name_with_the_reason(products: dict[str, Path], key: str, words: list[str]) -> None:
    outcomes = list(read_scenes(str(products[key])))
    assert len(outcomes) == 1 and isinstance(outcomes[0], tuple)
    name, reason = outcomes[0]
    assert name == str(products[key])
    for word in words:
        assert word in reason, reason


def test_ingest_directory_registers_the_good_products_only(app, products: dict[str, Path]) -> None:
    sessions = app.extensions["fis"].sessions
    report = ingest([str(products["root"])], sessions)
    good_ids = {scene_from_safe(products[k]).id for k in ("good_dir", "good_zip", "l2a")} | {"STAC_SCENE"}
    assert set(report.created) == good_ids
    failed = dict(report.failed)
    assert set(failed) == {str(products[k]) for k in ("corrupt_zip", "truncated_zip", "missing_band", "unknown_baseline")}
    with sessions() as session:
        assert count_scenes(session) == 4  # nothing half-registered
        stored = {s.id: s for s in find_scenes(session, None, None)}
    zipped = stored[scene_from_safe(products["good_zip"]).id]
    assert zipped.processing_baseline == "03.01" and zipped.assets["B04"].radiometry.offset == 0.0
    assert zipped.assets["B04"].href.startswith("/vsizip/")
    assert stored[scene_from_safe(products["l2a"]).id].assets["SCL"].radiometry == Radiometry(1.0, 0.0, 0)
    again = ingest([str(products["good_dir"])], sessions)
    assert again.updated == [scene_from_safe(products["good_dir"]).id] and not again.created


def test_cli_ingest_reports_each_broken_product(products: dict[str, Path], database_url: str, tmp_path: Path) -> None:
    from fis.cli import main

    env = {"FIS_DATABASE_URL": database_url, "FIS_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(main, ["ingest", str(products["root"])], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert "4 scenes added, 0 updated, 4 failed" in result.stdout
    for key in ("corrupt_zip", "truncated_zip", "missing_band", "unknown_baseline"):
        assert f"FAILED {products[key]}: " in result.stderr
