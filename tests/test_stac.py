"""STAC items -> SceneRecord on the three real items in ../shared/data/metadata, and broken items."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from fis.catalog.sources import read_scenes
from fis.catalog.stac import iter_item_dicts, resolve_href, scene_from_item
from fis.core.bands import BANDS
from fis.errors import IngestError

UTC = dt.UTC


@pytest.fixture(scope="module")
def metadata(shared_data: Path) -> Path:
    return shared_data / "metadata"


def load(metadata: Path, name: str) -> tuple[Path, dict]:
    path = metadata / name
    return path, json.loads(path.read_text())


# ------------------------------------------------------------------------------ real items


def test_earth_search_v1_l1c_feature_collection(metadata: Path) -> None:
    path, document = load(metadata, "stac_earth_search_v1_l1c_S2B_27VWK_20240206.json")
    items = list(iter_item_dicts(document, source=str(path)))
    assert len(items) == 1
    scene = scene_from_item(items[0], base_href=str(path))
    assert scene.id == "S2B_27VWK_20240206_0_L1C"
    assert scene.datetime == dt.datetime(2024, 2, 6, 13, 14, 11, 918000, tzinfo=UTC)
    assert scene.datetime.utcoffset() == dt.timedelta(0)
    assert scene.date == dt.date(2024, 2, 6)
    assert scene.tile == "27VWK"
    assert scene.processing_baseline == "05.10"
    assert scene.product_level == "L1C"
    assert scene.crs == "EPSG:32627"
    assert scene.platform == "sentinel-2b"
    assert scene.collection == "sentinel-2-l1c"
    # the 13 bands found by Earth Search common-name keys (coastal, blue, ..., swir22)
    assert tuple(sorted(scene.assets)) == tuple(sorted(BANDS))
    assert scene.assets["B04"].href == "s3://sentinel-s2-l1c/tiles/27/V/WK/2024/2/6/0/B04.jp2"
    assert scene.assets["B8A"].href.endswith("/B8A.jp2")
    assert scene.assets["B10"].href.endswith("/B10.jp2")
    assert {b: a.resolution for b, a in scene.assets.items()} == {
        "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
        "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
    }
    # visual (TCI) and metadata assets are not bands
    assert all("TCI" not in a.href for a in scene.assets.values())
    assert scene.footprint.is_valid and not scene.footprint.is_empty
    minx, miny, maxx, maxy = scene.footprint.bounds
    assert -180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90


def test_earth_search_l2a_item_prefers_cog_over_jp2(metadata: Path) -> None:
    path, item = load(metadata, "stac_earth_search_l2a_S2A_29RKH_20200219.json")
    scene = scene_from_item(item, base_href=str(path))
    assert scene.id == "S2A_29RKH_20200219_0_L2A"
    assert scene.datetime == dt.datetime(2020, 2, 19, 11, 34, 25, 405000, tzinfo=UTC)
    assert scene.tile == "29RKH"
    assert scene.processing_baseline == "02.14"
    assert scene.product_level == "L2A"
    assert scene.crs == "EPSG:32629"
    # 12 bands (L2A has no B10) and the scene classification SCL (class codes, COG over JP2);
    # AOT, WVP and the visual TCI are not bands
    assert tuple(sorted(scene.assets)) == tuple(sorted([*(b for b in BANDS if b != "B10"), "SCL"]))
    for band, asset in scene.assets.items():
        assert asset.href.endswith(f"/{band}.tif"), asset.href
        assert asset.href.startswith("https://sentinel-cogs.s3.us-west-2.amazonaws.com/")
        expected = (1.0, 0.0, 0) if band == "SCL" else (0.0001, 0.0, 0)
        assert (asset.radiometry.scale, asset.radiometry.offset, asset.radiometry.nodata) == expected, band

    # the preference does not depend on the order of the assets: put every -jp2 first
    reordered = copy.deepcopy(item)
    keys = sorted(item["assets"], key=lambda k: (not k.endswith("-jp2"), k))
    reordered["assets"] = {k: item["assets"][k] for k in keys}
    assert next(iter(reordered["assets"])).endswith("-jp2")
    again = scene_from_item(reordered, base_href=str(path))
    assert {b: a.href for b, a in again.assets.items()} == {b: a.href for b, a in scene.assets.items()}


def test_stactools_l1c_item_relative_hrefs_resolve_against_the_item_file(metadata: Path) -> None:
    path, item = load(metadata, "stac_stactools_l1c_T46RER_20210908.json")
    scene = scene_from_item(item, base_href=str(path))
    assert scene.id == "S2A_T46RER_20210908T043714_L1C"
    assert scene.datetime == dt.datetime(2021, 9, 8, 4, 27, 1, 24000, tzinfo=UTC)
    assert scene.tile == "46RER"
    assert scene.processing_baseline == "03.01"
    assert scene.product_level == "L1C"
    assert scene.crs == "EPSG:32646"
    assert tuple(sorted(scene.assets)) == tuple(sorted(BANDS))
    relative = item["assets"]["red"]["href"]
    assert relative.startswith("./GRANULE/")
    assert scene.assets["B04"].href == str((path.parent / relative).resolve())
    assert Path(scene.assets["B04"].href).is_absolute()
    assert scene.assets["B8A"].href.endswith("T46RER_20210908T042701_B8A.jp2")
    # 03.01 without an offset in raster:bands: reflectance = DN / 10000
    assert all(a.radiometry.offset == 0.0 and a.radiometry.scale == 0.0001 for a in scene.assets.values())
    # without a base the relative href is kept as given
    assert scene_from_item(item).assets["B04"].href == relative


def test_bands_found_by_eo_bands_name_or_common_name(metadata: Path) -> None:
    _, item = load(metadata, "stac_stactools_l1c_T46RER_20210908.json")
    renamed = copy.deepcopy(item)
    # opaque keys: only eo:bands names ("B04") or common names identify the band
    renamed["assets"] = {f"asset_{i}": a for i, a in enumerate(item["assets"].values())}
    scene = scene_from_item(renamed)
    assert tuple(sorted(scene.assets)) == tuple(sorted(BANDS))
    by_common = copy.deepcopy(renamed)
    for asset in by_common["assets"].values():
        for eo in asset.get("eo:bands") or []:
            eo.pop("name", None)
    scene = scene_from_item(by_common)
    # B05..B07 share the common name "rededge": they cannot be told apart without a name
    assert {"B01", "B02", "B03", "B04", "B08", "B8A", "B09", "B10", "B11", "B12"} <= set(scene.assets)


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("./B04.tif", "/data/scene/item.json", "/data/scene/B04.tif"),
        ("../other/B04.tif", "/data/scene/item.json", "/data/other/B04.tif"),
        ("B04.tif", "https://example.com/items/x.json", "https://example.com/items/B04.tif"),
        ("s3://bucket/B04.tif", "/data/scene/item.json", "s3://bucket/B04.tif"),
        ("/abs/B04.tif", "/data/scene/item.json", "/abs/B04.tif"),
    ],
)
def test_resolve_href(href: str, base: str, expected: str) -> None:
    assert resolve_href(href, base) == expected


def test_datetime_with_offset_is_converted_to_utc(metadata: Path) -> None:
    _, item = load(metadata, "stac_stactools_l1c_T46RER_20210908.json")
    item = copy.deepcopy(item)
    item["properties"]["datetime"] = "2021-09-09T01:30:00+02:00"
    scene = scene_from_item(item)
    assert scene.datetime == dt.datetime(2021, 9, 8, 23, 30, tzinfo=UTC)
    assert scene.date == dt.date(2021, 9, 8)
    item["properties"]["datetime"] = "2021-09-08T04:27:01"  # naive: UTC
    assert scene_from_item(item).datetime == dt.datetime(2021, 9, 8, 4, 27, 1, tzinfo=UTC)


# ------------------------------------------------------------------------------ broken items


def _broken(metadata: Path, what: str) -> dict:
    _, item = load(metadata, "stac_stactools_l1c_T46RER_20210908.json")
    item = copy.deepcopy(item)
    if what == "no datetime":
        item["properties"].pop("datetime")
    elif what == "bad datetime":
        item["properties"]["datetime"] = "yesterday"
    elif what == "bad geometry":
        item["geometry"] = {"type": "Polygon", "coordinates": "not coordinates"}
    elif what == "no geometry":
        item["geometry"] = None
        item.pop("bbox")
    elif what == "empty geometry":
        item["geometry"] = {"type": "Polygon", "coordinates": []}
    elif what == "no band assets":
        item["assets"] = {k: v for k, v in item["assets"].items() if "eo:bands" not in v}
    return item


@pytest.mark.parametrize(
    ("what", "reason"),
    [
        ("no datetime", "datetime is missing"),
        ("bad datetime", "'yesterday' is not ISO 8601"),
        ("bad geometry", "geometry/bbox cannot be read"),
        ("no geometry", "geometry/bbox cannot be read"),
        ("empty geometry", "geometry is empty"),
        ("no band assets", "no Sentinel-2 band assets found"),
    ],
)
def test_broken_item_raises_ingest_error_naming_item_and_reason(metadata: Path, what: str, reason: str) -> None:
    with pytest.raises(IngestError) as info:
        scene_from_item(_broken(metadata, what))
    assert info.value.message.startswith("S2A_T46RER_20210908T043714_L1C: ")
    assert reason in info.value.message
    assert info.value.status == 422


def test_item_without_id(metadata: Path) -> None:
    _, item = load(metadata, "stac_stactools_l1c_T46RER_20210908.json")
    item = copy.deepcopy(item)
    item.pop("id")
    with pytest.raises(IngestError, match="without an 'id'"):
        scene_from_item(item)


def test_ingest_reports_each_broken_item_by_name(metadata: Path, tmp_path: Path) -> None:
    _, good = load(metadata, "stac_stactools_l1c_T46RER_20210908.json")
    no_id = copy.deepcopy(good)
    no_id.pop("id")
    collection = {
        "type": "FeatureCollection",
        "features": [_broken(metadata, "no datetime"), no_id, _broken(metadata, "no band assets")],
    }
    source = tmp_path / "items.json"
    source.write_text(json.dumps(collection))
    outcomes = list(read_scenes(str(source)))
    assert outcomes[0] == ("S2A_T46RER_20210908T043714_L1C", "S2A_T46RER_20210908T043714_L1C: properties.datetime is missing")
    assert outcomes[1] == (f"{source}#1", "STAC item without an 'id'")
    assert outcomes[2][0] == "S2A_T46RER_20210908T043714_L1C"
    assert "no Sentinel-2 band assets" in outcomes[2][1]
    # a readable item whose local band files do not exist is refused with the file named
    good_path = tmp_path / "good.json"
    good_path.write_text(json.dumps(good))
    ((name, reason),) = list(read_scenes(str(good_path)))
    assert name == "S2A_T46RER_20210908T043714_L1C"
    assert "does not exist" in reason and "T46RER_20210908T042701_B" in reason


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "not a JSON object"),
        ({"type": "Catalog"}, "is not a STAC Item"),
        ({"type": "FeatureCollection"}, "without a 'features' list"),
    ],
)
def test_not_an_item(document, reason) -> None:
    with pytest.raises(IngestError, match=reason):
        list(iter_item_dicts(document, source="doc.json"))
