"""The ``outputs`` request key: which bands the engine reads, what is absent, the 400s, and values
identical to the full request for what is present.

The archive is a small demo archive (``fis.demo.archive``, 200 x 200 px, two overlapping tiles, one date a
month) with CLP/CLM layers written for every scene; the field lies in the west tile only, so a date's
precomputed mask needs no seam cells. A spy on ``fis.engine.dates.read_band_on_grids`` records which
band files are read.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

import pytest

from fis.catalog.stac import scene_from_item
from fis.core.bands import BANDS
from fis.core.observation import OUTPUTS, SeriesResult
from fis.core.request import TimeseriesRequest, parse_timeseries_request, request_from_stored
from fis.core.scenes import SceneRecord
from fis.demo.archive import DemoArchive, build_demo_archive
from fis.engine import dates
from fis.engine.cloudlayers import CLM, CLP, CloudLayerSettings, layer_properties, write_layers
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from fis.engine.raster import DatasetCache
from fis.errors import InvalidInput
from fis.protocols.native.export import csv_lines
from fis_archive import archive, ingested, request_body  # noqa: F401 - fixtures

MODEL = load_model("s2cloudless-v0.1")
# the west tile (60 % of the width) holds this field whole
FIELD = {"type": "Polygon", "coordinates": [[[0.25, 0.35], [0.4, 0.35], [0.4, 0.65], [0.25, 0.65], [0.25, 0.35]]]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoArchive:
    return build_demo_archive(tmp_path_factory.mktemp("demo"), year=2023, revisit_days=30, size_px=200, tiles=2)


def field_geometry(demo: DemoArchive) -> dict[str, Any]:
    """FIELD's unit-square coordinates placed in the demo area (lon/lat)."""
    west, south, east, north = demo.bbox
    ring = [[west + x * (east - west), north - y * (north - south)] for x, y in FIELD["coordinates"][0]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture(scope="module")
def scenes(demo: DemoArchive) -> list[SceneRecord]:
    return [scene_from_item(json.loads(p.read_text()), base_href=str(p)) for p in demo.items]


@pytest.fixture(scope="module")
def layered(scenes: list[SceneRecord], tmp_path_factory: pytest.TempPathFactory) -> list[SceneRecord]:
    """The scenes with CLP/CLM layers for the default cloud settings registered."""
    settings = CloudLayerSettings.for_mask(MODEL.name, parse_timeseries_request(body_of(None)).cloud_mask)
    out = tmp_path_factory.mktemp("layers")
    cache = DatasetCache(64)
    result = []
    for scene in scenes:
        assets = write_layers(scene, MODEL, settings, out, cache)
        result.append(dataclasses.replace(
            scene, assets={**scene.assets, **assets},
            properties={**scene.properties, "cloud_layers": layer_properties(settings)},
        ))
    return result


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(MODEL)


@pytest.fixture
def band_reads(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The bands (and layers) whose files the engine reads."""
    seen: set[str] = set()
    original = dates.read_band_on_grids

    def spy(asset: Any, grids: Any, cache: Any) -> Any:
        seen.add(asset.band)
        return original(asset, grids, cache)

    monkeypatch.setattr(dates, "read_band_on_grids", spy)
    return seen


_GEOMETRY: dict[str, Any] = {}


def body_of(outputs: list[str] | None, **extra: Any) -> dict[str, Any]:
    body = {"geometry": _GEOMETRY.get("field", FIELD), "time_range": {"from": "2023-01-01", "to": "2023-12-31"}}
    if outputs is not None:
        body["outputs"] = outputs
    return {**body, **extra}


def run(engine: Engine, demo: DemoArchive, scenes: list[SceneRecord], outputs: list[str] | None) -> SeriesResult:
    _GEOMETRY["field"] = field_geometry(demo)
    return engine.compute(parse_timeseries_request(body_of(outputs)), scenes)


def assert_same_where_present(part: SeriesResult, full: SeriesResult, outputs: tuple[str, ...]) -> None:
    assert [o.date for o in part.observations] == [o.date for o in full.observations]
    assert len(part.observations) == 13 and not part.errors and not full.errors
    for mine, reference in zip(part.observations, full.observations, strict=True):
        assert (mine.pixels.total, mine.pixels.valid, mine.pixels.nodata) == (
            reference.pixels.total, reference.pixels.valid, reference.pixels.nodata)
        assert mine.ndvi == (reference.ndvi if "ndvi" in outputs else {})
        assert mine.bands == (reference.bands if "bands" in outputs else {})
        assert mine.cloud_probability == (reference.cloud_probability if "cloud_probability" in outputs else None)
        if "cloud_fraction" in outputs:
            assert mine.cloud_fraction == reference.cloud_fraction
            assert mine.pixels.cloudy == reference.pixels.cloudy
            assert mine.cloud_source == reference.cloud_source
        else:
            assert mine.cloud_fraction is None and mine.cloud_source is None


def test_precomputed_ndvi_and_cloud_fraction_read_b04_b08_and_clm(
    demo: DemoArchive, layered: list[SceneRecord], engine: Engine, band_reads: set[str]
) -> None:
    full = run(engine, demo, layered, None)
    assert band_reads == {*BANDS, CLM}  # the full request reads every band, and the CLM layer
    assert {o.cloud_source for o in full.observations} == {"precomputed"}
    band_reads.clear()
    part = run(engine, demo, layered, ["ndvi", "cloud_fraction"])
    assert band_reads == {"B04", "B08", CLM}
    assert_same_where_present(part, full, ("ndvi", "cloud_fraction"))
    assert any(o.cloud_fraction for o in part.observations)  # the archive has cloudy dates


def test_on_the_fly_mask_reads_the_model_bands(
    demo: DemoArchive, scenes: list[SceneRecord], engine: Engine, band_reads: set[str]
) -> None:
    full = run(engine, demo, scenes, None)
    band_reads.clear()
    part = run(engine, demo, scenes, ["cloud_fraction", "ndvi"])
    assert band_reads == {"B04", "B08", *MODEL.input_bands}
    assert band_reads < set(BANDS)  # B03, B06, B07 are not read
    assert_same_where_present(part, full, ("ndvi", "cloud_fraction"))


@pytest.mark.parametrize(
    ("outputs", "read"),
    [
        (["ndvi"], {"B04", "B08"}),
        (["bands"], set(BANDS)),
        (["cloud_probability"], {"B04", "B08", *MODEL.input_bands}),
        (["ndvi", "bands", "cloud_probability"], set(BANDS)),
    ],
)
def test_each_output_reads_only_its_bands(
    demo: DemoArchive, layered: list[SceneRecord], engine: Engine, band_reads: set[str],
    outputs: list[str], read: set[str],
) -> None:
    full = run(engine, demo, layered, None)
    band_reads.clear()
    part = run(engine, demo, layered, outputs)
    assert band_reads == read  # no CLM / CLP: no mask needed
    assert_same_where_present(part, full, tuple(outputs))


def test_indices_read_their_bands(
    demo: DemoArchive, scenes: list[SceneRecord], engine: Engine, band_reads: set[str]
) -> None:
    _GEOMETRY["field"] = field_geometry(demo)
    full = engine.compute(parse_timeseries_request(body_of(None, indices=["ndmi"])), scenes)
    band_reads.clear()
    part = engine.compute(parse_timeseries_request(body_of(["ndvi"], indices=["ndmi"])), scenes)
    assert band_reads == {"B04", "B08", "B11"}  # ndmi = (B08 - B11) / (B08 + B11)
    assert [o.indices for o in part.observations] == [o.indices for o in full.observations]


def test_mask_clouds_reads_the_mask(
    demo: DemoArchive, layered: list[SceneRecord], engine: Engine, band_reads: set[str]
) -> None:
    _GEOMETRY["field"] = field_geometry(demo)
    full = engine.compute(parse_timeseries_request(body_of(None, mask_clouds=True)), layered)
    band_reads.clear()
    part = engine.compute(parse_timeseries_request(body_of(["ndvi"], mask_clouds=True)), layered)
    assert band_reads == {"B04", "B08", CLM}
    assert [o.ndvi for o in part.observations] == [o.ndvi for o in full.observations]
    assert [o.pixels for o in part.observations] == [o.pixels for o in full.observations]


def test_absent_measures_in_json_and_csv(demo: DemoArchive, layered: list[SceneRecord], engine: Engine) -> None:
    part = run(engine, demo, layered, ["ndvi", "cloud_fraction"])
    observation = part.observations[0]
    document = observation.to_json(cloudy=False)
    assert "bands" not in document and "cloud_probability" not in document
    assert set(document["ndvi"]) and document["cloud_fraction"] == observation.cloud_fraction
    header, row = list(csv.reader(io.StringIO("".join(csv_lines([observation], cloudy=[False])))))
    values = dict(zip(header, row, strict=True))
    assert [values[b] for b in BANDS] == [""] * 13 and values["cloud_probability"] == ""
    assert values["ndvi_mean"] == repr(observation.ndvi["mean"])
    assert values["cloud_fraction"] == repr(observation.cloud_fraction)
    full_header = next(csv.reader(io.StringIO("".join(csv_lines([dataclasses.replace(
        observation, outputs=OUTPUTS)], cloudy=[False])))))
    assert header == full_header  # the same columns


@pytest.mark.parametrize(
    ("extra", "field", "measure"),
    [
        ({"outputs": ["ndvi"], "max_cloud_fraction": 0.2}, "max_cloud_fraction", "cloud_fraction"),
        ({"outputs": ["ndvi", "cloud_fraction"], "max_cloud_probability": 0.5}, "max_cloud_probability",
         "cloud_probability"),
        ({"outputs": ["ndvi", "cloud_probability"], "aggregation": {"interval": "P1M", "pick": "least_cloudy"}},
         "aggregation.pick", "cloud_fraction"),
        ({"outputs": ["ndvi", "cloud_fraction"], "aggregation": {"interval": "P1M", "pick": "least_cloudy"}},
         "aggregation.pick", "cloud_probability"),
    ],
)
def test_a_filter_on_an_absent_measure_is_a_400(extra: dict[str, Any], field: str, measure: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_timeseries_request({**body_of(None), **extra})
    assert caught.value.field == field
    assert f"needs '{measure}'" in caught.value.message
    assert f"add '{measure}' to outputs" in caught.value.message


@pytest.mark.parametrize("outputs", [[], ["ndvi", "clouds"], "ndvi", [1]])
def test_bad_outputs_are_a_400(outputs: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_timeseries_request(body_of(outputs))
    assert caught.value.field.startswith("outputs")


def test_outputs_in_the_stored_parameters() -> None:
    default = parse_timeseries_request(body_of(None))
    assert default.outputs == OUTPUTS and "outputs" not in default.parameters()
    everything = parse_timeseries_request(body_of(["cloud_fraction", "bands", "ndvi", "cloud_probability", "ndvi"]))
    assert everything.parameters() == default.parameters()
    part = parse_timeseries_request(body_of(["cloud_fraction", "ndvi"]))
    assert part.outputs == ("ndvi", "cloud_fraction")
    assert part.parameters()["outputs"] == ["ndvi", "cloud_fraction"]
    again: TimeseriesRequest = request_from_stored(part.parameters(), part.aoi, part.time_range)
    assert again.outputs == part.outputs and again.parameters() == part.parameters()


def test_clp_is_not_read_for_cloud_fraction(
    demo: DemoArchive, layered: list[SceneRecord], engine: Engine, band_reads: set[str]
) -> None:
    run(engine, demo, layered, ["cloud_fraction"])
    assert CLP not in band_reads and band_reads == {"B04", "B08", CLM}


def test_outputs_through_the_api(ingested: Any) -> None:
    client = ingested.test_client()
    body = request_body(include_cloudy=True, outputs=["ndvi", "cloud_fraction"])
    response = client.post("/api/v1/timeseries", json=body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["computed"] > 0
    stored = client.get(f"/api/v1/timeseries/{created['id']}").get_json()
    for document in (created, stored):
        assert document["observations"]
        for observation in document["observations"]:
            assert "bands" not in observation and "cloud_probability" not in observation
            assert {"ndvi", "cloud_fraction"} <= set(observation)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/v1/timeseries/{created['id']}?format=csv").text)))
    assert rows and all(row["B04"] == "" and row["cloud_probability"] == "" and row["ndvi_mean"] for row in rows)
    # a default request is not served from the series with fewer outputs
    default = client.post("/api/v1/timeseries", json=request_body(include_cloudy=True)).get_json()
    assert default["reused"] == 0 and "bands" in default["observations"][0]
    bad = client.post("/api/v1/timeseries", json={**body, "max_cloud_probability": 0.5})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["field"] == "max_cloud_probability"


def test_recipe_across_a_tile_seam_equals_the_full_request(
    demo: DemoArchive, layered: list[SceneRecord], engine: Engine, band_reads: set[str]
) -> None:
    """A field over both tiles: layer cells near the seam are recomputed on the mosaic, so the model's
    bands are read there (on the seam window only), and the numbers still equal the full request's."""
    west, south, east, north = demo.bbox
    ring = [[west + x * (east - west), north - y * (north - south)]
            for x, y in [(0.3, 0.4), (0.7, 0.4), (0.7, 0.6), (0.3, 0.6), (0.3, 0.4)]]
    _GEOMETRY["field"] = {"type": "Polygon", "coordinates": [ring]}
    full = engine.compute(parse_timeseries_request(body_of(None)), layered)
    band_reads.clear()
    part = engine.compute(parse_timeseries_request(body_of(["ndvi", "cloud_fraction"])), layered)
    assert {"B04", "B08", CLM} < band_reads <= {"B04", "B08", CLM, *MODEL.input_bands}  # seam cells
    assert_same_where_present(part, full, ("ndvi", "cloud_fraction"))
    _GEOMETRY["field"] = field_geometry(demo)
