"""The OpenAPI document: valid OpenAPI 3.1, and every route of the app is described."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from fis.api.openapi_spec import build_spec
from fis.config import Settings
from fis.core.request import ACCEPTED_KEYS, REQUIRED_KEYS, CloudMaskSettings

SERVER = "http://fis.example:8080"
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return build_spec(server_url=SERVER)


@pytest.fixture
def docs_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An app on a fresh SQLite file (not migrated: building the app and the document needs no tables)."""
    from fis.api.app import create_app

    application = create_app(Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'fis.sqlite'}"))
    yield application
    application.extensions["fis"].close()


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        target: Any = spec
        for part in parts:
            target = target[part]
        node = target
    return node


def test_document_is_valid_openapi_31(spec: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator", reason="pip install openapi-spec-validator (test extra)")
    assert spec["openapi"].startswith("3.1")
    validator.validate(spec)


def test_document_is_json_serialisable(spec: dict[str, Any]) -> None:
    assert json.loads(json.dumps(spec)) == spec
    assert spec["servers"] == [{"url": SERVER}]


def test_every_route_is_documented(spec: dict[str, Any], docs_app) -> None:  # type: ignore[no-untyped-def]
    documented = {
        (path, method) for path, item in spec["paths"].items() for method in item if method in HTTP_METHODS
    }
    routes = set()
    for rule in docs_app.url_map.iter_rules():
        if not (rule.rule.startswith(("/api/v1", "/ogc/")) or rule.rule in ("/healthz", "/oauth/token")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    assert routes, "no routes found under /api/v1"
    assert routes - documented == set(), "routes without an OpenAPI description"
    assert documented - routes == set(), "documented operations the app does not have"


def test_path_parameters_are_declared(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        declared = {
            _resolve(spec, p)["name"]
            for p in item.get("parameters", [])
            if _resolve(spec, p)["in"] == "path"
        }
        assert names == declared, path


def test_error_responses_use_the_error_schema(spec: dict[str, Any]) -> None:
    error_statuses = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, response in op["responses"].items():
                if not status.startswith(("4", "5")) or (path == "/healthz" and status == "503"):
                    continue  # /healthz reports its 503 in the Health shape
                if path == "/oauth/token":
                    continue  # OAuth2's error shape (RFC 6749 5.2), which OAuth2 clients read
                error_statuses.add(status)
                body = _resolve(spec, response)["content"]["application/json"]["schema"]
                # the Statistical API answers in Sentinel Hub's error shape, which its clients read
                shape = "StatisticalError" if path == "/api/v1/statistics" else "Error"
                assert body == {"$ref": f"#/components/schemas/{shape}"}, f"{method.upper()} {path} {status}"
    assert {"400", "404", "413"} <= error_statuses


def test_request_schema_matches_the_validator(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["TimeseriesRequest"]
    assert set(schema["properties"]) == set(ACCEPTED_KEYS)
    assert set(schema["required"]) == set(REQUIRED_KEYS)
    assert schema["additionalProperties"] is False
    defaults = CloudMaskSettings()
    props = schema["properties"]
    assert props["resolution"]["default"] == 10.0
    assert props["cloud_threshold"]["default"] == defaults.threshold
    assert props["cloud_mask_resolution"]["default"] == defaults.resolution
    assert props["cloud_mask_average_over"]["default"] == defaults.average_over
    assert props["cloud_mask_dilation"]["default"] == defaults.dilation_size


def test_request_example_is_accepted(spec: dict[str, Any]) -> None:
    from fis.core.request import parse_timeseries_request

    body = spec["paths"]["/api/v1/timeseries"]["post"]["requestBody"]["content"]["application/json"]
    for example in body["examples"].values():
        parse_timeseries_request(example["value"])


def test_examples_request_matches_the_documented_example(spec: dict[str, Any]) -> None:
    path = REPO / "examples" / "request.json"
    if not path.is_file():
        pytest.skip("examples/request.json not present")
    body = spec["paths"]["/api/v1/timeseries"]["post"]["requestBody"]["content"]["application/json"]
    assert json.loads(path.read_text()) == body["examples"]["demo_field"]["value"]


def test_served_document(docs_app) -> None:  # type: ignore[no-untyped-def]
    response = docs_app.test_client().get("/api/v1/openapi.json", base_url="http://example.org:9000")
    assert response.status_code == 200
    document = response.get_json()
    assert document["servers"] == [{"url": "http://example.org:9000"}]
    assert "/api/v1/timeseries/{series_id}" in document["paths"]
