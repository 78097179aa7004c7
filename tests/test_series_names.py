"""Series names and Feature properties: stored, shown (JSON, list, CSV file name, GeoJSON) and renamed."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from fis_archive import CSV_HEADER, DATES, FIELD_UTM, archive, ingested, request_body  # noqa: F401

URL = "/api/v1/timeseries"


def test_default_request_has_no_name_keys(ingested: Any) -> None:
    client = ingested.test_client()
    body = client.post(URL, json=request_body()).get_json()
    assert "name" not in body and "properties" not in body
    assert list(body)[:3] == ["id", "status", "created_at"]
    item = client.get(URL).get_json()["items"][0]
    assert "name" not in item
    csv_response = client.get(f"{URL}/{body['id']}?format=csv")
    assert csv_response.headers["Content-Disposition"] == f'attachment; filename="fis-timeseries-{body["id"]}.csv"'
    geojson = client.get(f"{URL}/{body['id']}?format=geojson").get_json()
    assert "name" not in geojson["properties"]


def test_name_is_stored_and_shown_everywhere(ingested: Any) -> None:
    client = ingested.test_client()
    created = client.post(URL, json=request_body(name="North field 2023"))
    assert created.status_code == 201
    body = created.get_json()
    assert body["name"] == "North field 2023" and "properties" not in body
    assert list(body)[:2] == ["id", "name"]
    assert client.get(f"{URL}/{body['id']}").get_json()["name"] == "North field 2023"
    assert client.get(URL).get_json()["items"][0]["name"] == "North field 2023"
    exported = client.get(f"{URL}/{body['id']}?format=csv")
    assert exported.headers["Content-Disposition"] == (
        "attachment; filename=\"North_field_2023.csv\"; filename*=UTF-8''North%20field%202023.csv"
    )
    assert exported.get_data(as_text=True).splitlines()[0] == CSV_HEADER  # the columns are unchanged
    assert [r["date"] for r in csv.DictReader(io.StringIO(exported.get_data(as_text=True)))] == list(DATES)
    long = client.get(f"{URL}/{body['id']}?format=long_csv")
    assert 'filename="North_field_2023-long.csv"' in long.headers["Content-Disposition"]
    assert client.get(f"{URL}/{body['id']}?format=geojson").get_json()["properties"]["name"] == "North field 2023"


def test_safe_name_needs_no_filename_star(ingested: Any) -> None:
    client = ingested.test_client()
    body = client.post(URL, json=request_body(name="field-7")).get_json()
    exported = client.get(f"{URL}/{body['id']}?format=csv")
    assert exported.headers["Content-Disposition"] == 'attachment; filename="field-7.csv"'


def test_feature_name_and_properties(ingested: Any) -> None:
    client = ingested.test_client()
    feature = {"type": "Feature", "properties": {"name": "Parcel 12", "crop": "maize", "id": 12}, "geometry": FIELD_UTM}
    body = client.post(URL, json=request_body(geometry=feature)).get_json()
    assert body["name"] == "Parcel 12"
    assert body["properties"] == {"name": "Parcel 12", "crop": "maize", "id": 12}
    geojson = client.get(f"{URL}/{body['id']}?format=geojson").get_json()
    properties = geojson["properties"]
    assert properties["crop"] == "maize" and properties["name"] == "Parcel 12"
    assert properties["id"] == body["id"] == geojson["id"]  # the series' keys win over the Feature's
    assert "properties" not in properties
    # an explicit name wins over the Feature's
    renamed = client.post(URL, json=request_body(geometry=feature, name="other")).get_json()
    assert renamed["name"] == "other" and renamed["properties"]["name"] == "Parcel 12"
    # a Feature whose properties.name is not a string gives no name but keeps the properties
    numbered = client.post(URL, json=request_body(geometry={**feature, "properties": {"name": 5}})).get_json()
    assert "name" not in numbered and numbered["properties"] == {"name": 5}


@pytest.mark.parametrize(
    ("name", "words"),
    [
        (5, ["name: must be a string", "got 5"]),
        ("", ["is empty"]),
        ("   ", ["is empty"]),
        ("x" * 201, ["201 characters is too long", "1 to 200"]),
        ("a\nb", ["control characters"]),
    ],
)
def test_bad_name_is_a_400(ingested: Any, name: Any, words: list[str]) -> None:
    client = ingested.test_client()
    response = client.post(URL, json=request_body(name=name))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "name"
    for word in words:
        assert word in error["message"]
    assert client.get(URL).get_json()["total"] == 0


def test_too_long_feature_name_names_its_field(ingested: Any) -> None:
    feature = {"type": "Feature", "properties": {"name": "y" * 300}, "geometry": FIELD_UTM}
    response = ingested.test_client().post(URL, json=request_body(geometry=feature))
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "geometry.properties.name"


def test_patch_renames(ingested: Any) -> None:
    client = ingested.test_client()
    sid = client.post(URL, json=request_body(include_cloudy=True)).get_json()["id"]
    response = client.patch(f"{URL}/{sid}", json={"name": "Renamed ✓"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "Renamed ✓" and body["id"] == sid
    assert [o["date"] for o in body["observations"]] == list(DATES)  # the stored filter
    assert client.get(f"{URL}/{sid}").get_json()["name"] == "Renamed ✓"
    exported = client.get(f"{URL}/{sid}?format=csv")
    assert exported.headers["Content-Disposition"] == (
        "attachment; filename=\"Renamed.csv\"; filename*=UTF-8''Renamed%20%E2%9C%93.csv"
    )
    cleared = client.patch(f"{URL}/{sid}", json={"name": None})
    assert cleared.status_code == 200 and "name" not in cleared.get_json()


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"json": {"name": 3}}, "name", ["must be a string"]),
        ({"json": {"name": "x" * 201}}, "name", ["too long"]),
        ({"json": {"name": "a", "status": "OK"}}, "status", ['{"name": "new name"}']),
        ({"json": {}}, "name", ['{"name": "new name"}']),
        ({"json": ["a"]}, "name", ["not an object"]),
        ({"data": b""}, "name", ['{"name": "new name"}']),
        ({"data": b"{", "content_type": "application/json"}, "body", ["not valid JSON"]),
    ],
)
def test_patch_rejects_bad_bodies(ingested: Any, kwargs: dict[str, Any], field: str, words: list[str]) -> None:
    client = ingested.test_client()
    sid = client.post(URL, json=request_body(name="kept")).get_json()["id"]
    response = client.patch(f"{URL}/{sid}", **kwargs)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field
    for word in words:
        assert word in error["message"]
    assert client.get(f"{URL}/{sid}").get_json()["name"] == "kept"


def test_patch_unknown_series_is_a_404(ingested: Any) -> None:
    response = ingested.test_client().patch(f"{URL}/no-such-id", json={"name": "x"})
    assert response.status_code == 404 and response.get_json()["error"]["field"] == "id"


def test_refresh_and_reuse_keep_names_apart(ingested: Any) -> None:
    client = ingested.test_client()
    first = client.post(
        URL, json=request_body(name="first", time_range={"from": "2023-06-05", "to": "2023-06-30"})
    ).get_json()
    second = client.post(URL, json=request_body(name="second"))
    assert second.headers["X-FIS-Reused"] == "2"  # the name is not a computation parameter
    assert second.get_json()["name"] == "second"
    refreshed = client.post(f"{URL}/{first['id']}/refresh").get_json()
    assert refreshed["name"] == "first"
