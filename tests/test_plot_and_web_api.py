"""The profile figure (GET .../plot.png and `fis series plot`), the page at /, its config and the field-file parser."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from matplotlib.image import imread
from pyogrio.raw import write as write_layer

from fis.api.app import create_app
from fis.cli import main
from fis.config import Settings
from fis.errors import InvalidInput
from fis_archive import CRS, FIELD_UTM, archive, ingested, request_body  # noqa: F401 - fixtures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    image = imread(io.BytesIO(data), format="png")
    return image.shape[1], image.shape[0]


@pytest.fixture
def series_id(ingested: Any) -> str:
    response = ingested.test_client().post("/api/v1/timeseries", json=request_body(max_cloud_fraction=0.5))
    assert response.status_code == 201
    return str(response.get_json()["id"])


def test_plot_png_has_the_requested_size(ingested: Any, series_id: str) -> None:
    client = ingested.test_client()
    response = client.get(f"/api/v1/timeseries/{series_id}/plot.png?width=640&height=480")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert _png_size(response.data) == (640, 480)
    default = client.get(f"/api/v1/timeseries/{series_id}/plot.png")
    assert _png_size(default.data) == (1200, 800)
    big_text = client.get(f"/api/v1/timeseries/{series_id}/plot.png?width=300&height=200&dpi=50&max_cloud_fraction=")
    assert _png_size(big_text.data) == (300, 200)


def test_plot_png_threshold_changes_the_figure(ingested: Any, series_id: str) -> None:
    client = ingested.test_client()
    stored = client.get(f"/api/v1/timeseries/{series_id}/plot.png?width=400&height=300").data
    again = client.get(f"/api/v1/timeseries/{series_id}/plot.png?width=400&height=300&max_cloud_fraction=0.5").data
    cleared = client.get(f"/api/v1/timeseries/{series_id}/plot.png?width=400&height=300&max_cloud_fraction=").data
    assert stored == again  # the stored threshold is the default
    assert cleared != stored  # no cloudy date: the masked panel keeps the third date


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("width=199", "width", "width: 199 is out of range; use an integer from 200 to 4000 (pixels)"),
        ("height=4001", "height", "out of range"),
        ("width=wide", "width", "query parameter width='wide' is not an integer"),
        ("dpi=5", "dpi", "an integer from 50 to 600"),
        ("max_cloud_fraction=2", "max_cloud_fraction", "max_cloud_fraction"),
        ("format=csv", "format", "unknown key(s) 'format'"),
    ],
)
def test_plot_png_rejects_bad_parameters(
    ingested: Any, series_id: str, query: str, field: str, words: str
) -> None:
    response = ingested.test_client().get(f"/api/v1/timeseries/{series_id}/plot.png?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field and words in error["message"]


def test_plot_png_of_an_unknown_series_is_404(ingested: Any) -> None:
    response = ingested.test_client().get("/api/v1/timeseries/00000000-0000-0000-0000-000000000000/plot.png")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_cli_series_plot(ingested: Any, series_id: str, tmp_path: Path) -> None:
    settings = ingested.extensions["fis"].settings
    env = {"FIS_DATABASE_URL": settings.effective_database_url, "FIS_DATA_DIR": str(settings.data_dir)}
    out = tmp_path / "profile.png"
    result = CliRunner().invoke(
        main, ["series", "plot", series_id, "-o", str(out), "--width", "500", "--height", "300",
               "--max-cloud-fraction", "0.5"], env=env, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out} (500 x 300 px)\n"
    assert _png_size(out.read_bytes()) == (500, 300)
    api = ingested.test_client().get(f"/api/v1/timeseries/{series_id}/plot.png?width=500&height=300").data
    assert out.read_bytes() == api  # the same figure as the API's
    missing = CliRunner().invoke(main, ["series", "plot", "nope", "-o", str(out)], env=env)
    assert missing.exit_code == 1 and "no time series 'nope'" in missing.output
    small = CliRunner().invoke(main, ["series", "plot", series_id, "-o", str(out), "--width", "10"], env=env)
    assert small.exit_code == 2 and "10 is not in the range 200<=x<=4000" in small.output


# ------------------------------------------------------------------------------- the page


def test_page_is_served_with_a_strict_policy(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "img-src 'self' data:;" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html and "http" not in html  # no inline code, no other host
    for asset in ("web/static/fis.js", "web/static/fis.css", "web/static/vendor/leaflet/leaflet.js",
                  "web/static/vendor/chart.js/chart.umd.min.js",
                  "web/static/vendor/leaflet-geoman-free/leaflet-geoman.min.js"):
        assert f'"{asset}"' in html  # relative: works behind a path prefix
        with client.get(f"/{asset}") as served:
            assert served.status_code == 200 and served.data


def test_config_without_and_with_a_basemap(tmp_path: Path) -> None:
    plain = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.sqlite'}"))
    assert plain.test_client().get("/api/v1/config").get_json() == {"basemap": None}
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'b.sqlite'}",
                              basemap_url=url, basemap_attribution="© Example"))
    client = app.test_client()
    assert client.get("/api/v1/config").get_json() == {"basemap": {"url": url, "attribution": "© Example"}}
    assert "img-src 'self' data: https://tiles.example.org;" in client.get("/").headers["Content-Security-Policy"]


def test_a_bad_basemap_url_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        create_app(Settings(data_dir=tmp_path, basemap_url="ftp://tiles/{z}/{x}.png"))
    assert info.value.field == "FIS_BASEMAP_URL"
    assert "is not a tile URL template" in info.value.message


# ------------------------------------------------------------------------ field files


def _layer(path: Path, driver: str, geometries: list[Any], crs: str = CRS) -> bytes:
    wkb = np.array([shapely.to_wkb(g) for g in geometries], dtype=object)
    write_layer(str(path), geometry=wkb, field_data=[np.arange(len(geometries))], fields=["id"],
                geometry_type="Polygon", crs=crs, driver=driver)
    return path.read_bytes()


def _zipped_shapefile(folder: Path, geometries: list[Any]) -> bytes:
    _layer(folder / "field.shp", "ESRI Shapefile", geometries)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in folder.glob("field.*"):
            archive.write(part, f"export/{part.name}")
    return buffer.getvalue()


def _upload(client: Any, data: bytes, name: str) -> Any:
    return client.post("/api/v1/geometry/parse", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


FIELD = shapely.geometry.shape(FIELD_UTM)


@pytest.mark.parametrize("kind", ["gpkg", "zip", "geojson"])
def test_field_files_give_the_same_field_as_the_json_body(client: Any, tmp_path: Path, kind: str) -> None:
    if kind == "gpkg":
        data, name = _layer(tmp_path / "f.gpkg", "GPKG", [FIELD]), "field.gpkg"
    elif kind == "zip":
        data, name = _zipped_shapefile(tmp_path, [FIELD]), "field.zip"
    else:
        data, name = _layer(tmp_path / "f.geojson", "GeoJSON", [FIELD]), "field.geojson"
    uploaded = _upload(client, data, name)
    assert uploaded.status_code == 200, uploaded.get_json()
    body = client.post("/api/v1/geometry/parse", json={"geometry": FIELD_UTM, "crs": CRS}).get_json()
    parsed = uploaded.get_json()
    assert parsed["crs"] == body["crs"] == "EPSG:32633"
    assert parsed["area_ha"] == body["area_ha"] == pytest.approx(4.0, abs=0.01)  # 200 m x 200 m
    same = [shapely.normalize(shapely.geometry.shape(g["geometry"])) for g in (parsed, body)]
    assert same[0].equals_exact(same[1], 1e-9)


def test_field_file_errors(client: Any, tmp_path: Path) -> None:
    def error(data: bytes, name: str) -> dict[str, Any]:
        response = _upload(client, data, name)
        assert response.status_code == 400
        result: dict[str, Any] = response.get_json()["error"]
        assert result["field"] == "file"
        return result

    assert error(b"<kml/>", "f.kml")["message"].startswith("file: 'f.kml' is not a supported file; upload a GeoJSON")
    assert error(b"", "f.gpkg")["message"].startswith("file: 'f.gpkg' is empty")
    assert error(b"not a zip", "f.zip")["message"].startswith("file: 'f.zip' is not a zip archive")
    assert "cannot be read as a GeoPackage" in error(b"garbage", "f.gpkg")["message"]
    two = _layer(tmp_path / "two.gpkg", "GPKG", [FIELD, FIELD.buffer(-10)])
    assert error(two, "two.gpkg")["message"] == (
        "file: the GeoPackage 'two.gpkg' has 2 features; send one feature, the field's polygon"
    )
    empty_zip = io.BytesIO()
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("readme.txt", "no shapefile")
    assert "must hold exactly one Shapefile" in error(empty_zip.getvalue(), "f.zip")["message"]
    # the geometry's own checks, with the same words as a request body, naming the file field
    outside = shapely.box(200, 0, 201, 1)
    message = error(_layer(tmp_path / "far.gpkg", "GPKG", [outside], crs="EPSG:4326"), "far.gpkg")["message"]
    body = client.post("/api/v1/geometry/parse", json={"geometry": shapely.geometry.mapping(outside)})
    assert body.status_code == 400
    assert message == body.get_json()["error"]["message"].replace("geometry", "file", 1)
    assert "outside" in message
    missing = client.post("/api/v1/geometry/parse", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and missing.get_json()["error"]["field"] == "file"


def test_geometry_body_errors_are_the_request_bodys(client: Any) -> None:
    bad = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}
    parsed = client.post("/api/v1/geometry/parse", json={"geometry": bad}).get_json()["error"]
    series = client.post("/api/v1/timeseries", json={"geometry": bad, "time_range": {"from": "2023-01-01",
                                                                                      "to": "2023-01-02"}})
    assert parsed == series.get_json()["error"]
    unknown = client.post("/api/v1/geometry/parse", json={"geometry": bad, "srs": 1}).get_json()["error"]
    assert unknown["field"] == "srs" and "got keys ['geometry', 'srs']" in unknown["message"]
    not_object = client.post("/api/v1/geometry/parse", data=json.dumps([1]), content_type="application/json")
    assert not_object.get_json()["error"]["field"] == "geometry"
    # a body that is neither JSON nor a multipart upload is refused before it is read (no CSRF without preflight)
    assert client.post("/api/v1/geometry/parse", data=json.dumps([1])).status_code == 415
