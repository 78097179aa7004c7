"""The request model: schema/server agreement, drifted spellings, name/properties, stored records, query strings,
CLI options."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema
from shapely.geometry import shape

from fis.api.openapi_spec import build_spec
from fis.core.request import ACCEPTED_KEYS, TimeseriesBody, parse_timeseries_request, request_from_stored
from fis.core.timerange import parse_time_range
from fis.errors import InvalidInput

GEOM = {"type": "Polygon", "coordinates": [[[10.0, 45.0], [10.01, 45.0], [10.01, 45.01], [10.0, 45.01], [10.0, 45.0]]]}
TR = {"from": "2015-07-01", "to": "2015-09-30"}


def body(**kw: Any) -> dict[str, Any]:
    return {"geometry": GEOM, "time_range": TR, **kw}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    spec = build_spec(server_url="http://x")
    schemas = spec["components"]["schemas"]
    root = {**copy.deepcopy(schemas["TimeseriesRequest"]), "components": {"schemas": schemas}}
    return jsonschema.Draft202012Validator(root)


def server_accepts(payload: Any) -> bool:
    try:
        parse_timeseries_request(payload)
    except InvalidInput:
        return False
    return True


TRICKY: list[dict[str, Any]] = [
    body(), body(indices="ndwi"), body(indices=["NDWI"]), body(indices=["ndwi", "evi"]), body(indices={"ndmi": None}),
    body(indices={"r": "(B08 - B11) / (B08 + B11)"}), body(aggregation="P10D"), body(aggregation="p10d"),
    body(aggregation=" P10D"), body(aggregation={"interval": "P1M", "pick": "LEAST_CLOUDY"}),
    body(aggregation={"interval": "P1M", "pick": "least_cloudy", "last_interval": "skip"}),
    body(aggregation={"interval": "P1M", "foo": 1}), body(resolution=None), body(resolution="10"), body(resolution=0),
    body(resolution=10000), body(resolution=10000.5), body(cloud_threshold=True), body(cloud_mask_average_over=3.0),
    body(cloud_mask_average_over=1.5), body(cloud_mask_dilation=11), body(include_cloudy="true"),
    body(include_cloudy=None), body(mask_clouds=1), body(crs=None), body(crs="EPSG:4326"), body(crs=4326),
    body(crs=True), body(pixel_rule="CENTER"), body(pixel_rule="coverage", min_coverage=0.5), body(min_coverage=2),
    body(statistics={"percentiles": [0.5, 0.95]}), body(statistics={"percentiles": [2]}),
    body(statistics={"median": True}), body(statistics={"histogram": {"bins": 4, "type": ""}}),
    body(statistics={"histogram": {"bins": 4.0}}), body(statistics={"histogram": {"edges": [0, 1], "low": 0, "high": 1}}),
    body(statistics={"histogram": {"bin_width": 0.1, "low": -1, "high": 1}}), body(name="wheat"), body(name=""),
    body(name="x" * 201), body(name=3), body(extra=1), {"geometry": GEOM}, {}, body(geometry=None),
    body(geometry={"type": "Feature", "properties": {"name": "north"}, "geometry": GEOM}),
    body(geometry={"type": "Feature", "properties": [1], "geometry": GEOM}),
    body(geometry="POLYGON((10 45, 10.01 45, 10.01 45.01, 10 45.01, 10 45))"), body(time_range={**TR, "x": 1}),
]


@pytest.mark.parametrize("payload", TRICKY, ids=range(len(TRICKY)))
def test_server_accepts_only_what_the_schema_accepts(payload: dict[str, Any], validator: Any) -> None:
    if server_accepts(payload):
        assert validator.is_valid(payload), list(validator.iter_errors(payload))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(indices="ndwi"), "indices"),
        (body(indices=["NDWI"]), "indices.NDWI"),
        (body(aggregation={"interval": "P1M", "pick": "LEAST_CLOUDY"}), "aggregation.pick"),
        (body(aggregation=" P10D"), "aggregation.interval"),
        (body(name="x" * 201), "name"),
        (body(geometry={"type": "Feature", "properties": [1], "geometry": GEOM}), "geometry.properties"),
        (body(aggregation={"interval": "P1M", "foo": 1}), "aggregation.foo"),
    ],
)
def test_drifted_spellings_are_a_400(payload: dict[str, Any], field: str, validator: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_timeseries_request(payload)
    assert caught.value.field == field
    assert field.split(".")[0] in caught.value.message
    assert not validator.is_valid(payload) or field == "geometry.properties" or field == "indices.NDWI"


def test_aggregation_shorthand_is_accepted_by_both(validator: Any) -> None:
    request = parse_timeseries_request(body(aggregation="P10D"))
    assert request.aggregation is not None and request.aggregation.to_dict() == {
        "interval": "P10D", "last_interval": "shorten", "pick": "all"}
    assert validator.is_valid(body(aggregation="P10D"))


OPTIONS_SCHEMA_KEYS = [k for k in ACCEPTED_KEYS if k not in ("geometry", "time_range", "crs")]
# max_cloud_*: a filter on a measure the body's outputs leave out
SEMANTIC_FIELDS = ("indices", "aggregation", "statistics", "min_coverage", "max_cloud_fraction", "max_cloud_probability")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=from_schema({
    "type": "object",
    "properties": {
        k: v for k, v in TimeseriesBody.model_json_schema(ref_template="#/$defs/{model}")["properties"].items()
        if k in OPTIONS_SCHEMA_KEYS
    },
    "additionalProperties": False,
    "$defs": TimeseriesBody.model_json_schema(ref_template="#/$defs/{model}")["$defs"],
}))
def test_schema_generated_options_are_accepted(data: dict[str, Any], validator: Any) -> None:
    payload = body(**data)
    assert validator.is_valid(payload)
    try:
        parse_timeseries_request(payload)
    except InvalidInput as exc:  # only semantics JSON Schema cannot say (band math, interval length, combinations)
        assert (exc.field or "").split(".")[0] in SEMANTIC_FIELDS, exc.message


def test_name_and_properties() -> None:
    feature = {"type": "Feature", "properties": {"name": "north", "crop": "wheat"}, "geometry": GEOM}
    request = parse_timeseries_request(body(geometry=feature))
    assert request.name == "north" and request.properties == {"name": "north", "crop": "wheat"}
    # a display name is not a computation parameter: it has a column of its own, outside the reuse key
    assert "name" not in request.parameters() and "properties" not in request.parameters()
    assert parse_timeseries_request(body(geometry=feature, name="field 7")).name == "field 7"
    plain = parse_timeseries_request(body())
    assert plain.name is None and plain.properties is None
    assert "name" not in plain.parameters() and "properties" not in plain.parameters()
    assert list(plain.parameters()) == ["crs", "time_range", "resolution", "cloud_mask", "max_cloud_fraction",
                                        "max_cloud_probability", "include_cloudy"]


def test_stored_parameters_round_trip() -> None:
    request = parse_timeseries_request(body(
        resolution=20, cloud_mask_dilation=0, max_cloud_fraction=0.3, mask_clouds=True,
        indices={"ndwi": None, "r": "B08 / B04"}, pixel_rule="coverage", min_coverage=0.25, name="n",
        statistics={"percentiles": [0.5], "histogram": {"bin_width": 0.5, "low": -1, "high": 1}},
    ))
    stored = json.loads(json.dumps({**request.parameters(), "grid": {"crs": "EPSG:32632"}, "model": "m"}))
    again = request_from_stored(stored, request.aoi.geometry_4326, parse_time_range({"from": "2016-01-01", "to": "2016-02-01"}))
    assert again.parameters() == {**request.parameters(), "time_range": again.time_range.to_dict()}
    assert again.time_range.to_dict()["from"] == "2016-01-01T00:00:00Z"
    assert [i.name for i in again.indices] == ["ndwi", "r"]


def test_old_stored_record_loads() -> None:
    old = {"crs": "EPSG:32633", "time_range": {"from": "2015-07-01T00:00:00Z", "to": "2015-09-30T23:59:59.999999Z"},
           "resolution": 10.0, "cloud_mask": {"threshold": 0.5, "resolution": 160.0, "average_over": 2, "dilation_size": 0},
           "max_cloud_fraction": None, "max_cloud_probability": None, "include_cloudy": False,
           "grid": {"crs": "EPSG:32633"}, "model": "s2cloudless-v0.1"}
    request = request_from_stored(old, shape(GEOM), parse_time_range(TR))
    assert request.cloud_mask.to_dict() == {"threshold": 0.5, "resolution": 160.0, "average_over": 2, "dilation_size": 0}
    assert request.aoi.crs.to_string() == "EPSG:4326"
    assert request.aoi.geometry_4326.equals(shape(GEOM))


def test_cli_has_an_option_for_every_body_key() -> None:
    from fis.cli.request_options import COMPOSITE_OPTIONS, option_name, scalar_keys
    from fis.cli.stats import stats

    names = {opt for param in stats.params for opt in param.opts}
    for key in ACCEPTED_KEYS:
        wanted = COMPOSITE_OPTIONS.get(key, (option_name(key),))
        assert set(wanted) <= names, key
    assert {"--cloud-mask-average-over", "--cloud-mask-dilation", "--name"} <= names
    assert "name" in scalar_keys()


def test_cli_body_keeps_zero_values() -> None:
    from fis.cli.request_options import scalar_body

    assert scalar_body({"cloud_mask_dilation": 0, "include_cloudy": False, "name": None, "mask_clouds": True}) == {
        "cloud_mask_dilation": 0, "mask_clouds": True}


def test_query_models() -> None:
    from fis.protocols.native.query import SeriesListQuery, SeriesQuery

    query = SeriesQuery.from_args({"max_cloud_fraction": "", "max_cloud_probability": "null", "format": "CSV"})
    assert query.max_cloud_fraction is None and query.max_cloud_probability is None and query.format == "csv"
    assert {"max_cloud_fraction", "max_cloud_probability"} <= query.model_fields_set
    assert SeriesQuery.from_args({"max_cloud_fraction": "0.3", "include_cloudy": "yes"}).include_cloudy is True
    with pytest.raises(InvalidInput) as caught:
        SeriesQuery.from_args({"max_cloud_fractoin": "0.3"})
    assert caught.value.field == "max_cloud_fractoin"
    assert "did you mean 'max_cloud_fraction'" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        SeriesQuery.from_args({"max_cloud_fraction": "1.5"})
    assert caught.value.field == "max_cloud_fraction" and "'1.5' is out of range" in caught.value.message
    assert SeriesListQuery.from_args({"limit": "5", "offset": ""}).limit == 5
    with pytest.raises(InvalidInput) as caught:
        SeriesListQuery.from_args({"limit": "0"})
    assert caught.value.field == "limit" and "0 is out of range" in caught.value.message


def test_get_clears_a_stored_threshold_and_rejects_unknown_parameters(tmp_path: Any) -> None:
    from fis.api.app import create_app
    from fis.config import Settings
    from fis.store.db import upgrade

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'fis.sqlite'}"))
    try:
        upgrade(app.extensions["fis"].db)
        client = app.test_client()
        created = client.post("/api/v1/timeseries", json=body(max_cloud_fraction=0.2)).get_json()
        url = f"/api/v1/timeseries/{created['id']}"
        assert client.get(url).get_json()["filter"]["max_cloud_fraction"] == 0.2
        assert client.get(url + "?max_cloud_fraction=").get_json()["filter"]["max_cloud_fraction"] is None
        assert client.get(url + "?max_cloud_fraction=null").get_json()["filter"]["max_cloud_fraction"] is None
        response = client.get(url + "?include_clody=true")
        assert response.status_code == 400
        assert response.get_json()["error"]["field"] == "include_clody"
        assert "did you mean 'include_cloudy'" in response.get_json()["error"]["message"]
    finally:
        app.extensions["fis"].close()
