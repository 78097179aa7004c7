"""Geometry edge cases (issue 3 item 6): one correct observation per date whatever the polygon.

* two overlapping MGRS tiles of one date (per-band mosaic, earliest acquisition wins);
* two UTM zones (EPSG:32633 / EPSG:32634 at 18 degrees E): the other zone is warped by GDAL;
* the antimeridian: RFC 7946 polygons whose longitude jumps from 179.99 to -179.99 are split
  at +-180 (fis.core.geometry.split_antimeridian), scenes in UTM zones 60 and 1 are found on both
  sides and mosaicked into one observation;
* very thin and tiny polygons: the pixels whose centres they cover, else one pixel on the
  polygon, never an empty answer;
* an L-shaped polygon whose bounding box covers a scene that the polygon does not touch:
  that scene is never opened.

Scenes hold B04/B08 only (no cloud model input) with a uniform value per scene, so every mean
is a count-weighted average of known values. Expected pixel sets come from an independent
oracle: grid pixel centres transformed with pyproj and tested against the lon/lat polygon.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Polygon, shape

from fis.catalog.stac import scene_from_item
from fis.core.geometry import parse_geometry, split_antimeridian
from fis.core.observation import PixelCounts
from fis.core.scenes import SceneRecord
from fis.demo.synthetic import BandRaster, grid_transform, write_stac_scene
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from fis.errors import InvalidGeometry
from handrasters import make_request, ring

UTC = dt.UTC
WHEN = dt.datetime(2023, 6, 5, 10, 0, tzinfo=UTC)
TIME_RANGE = {"from": "2023-06-01", "to": "2023-06-30"}
TOL = 1e-7


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_model("s2cloudless-v0.1"))


def only(result: Any) -> Any:
    assert result.errors == (), result.errors
    assert len(result.observations) == 1, [o.date for o in result.observations]
    return result.observations[0]


def lonlat_box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    """A GeoJSON rectangle; lon1 < lon0 means it crosses the antimeridian (RFC 7946)."""
    return {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]}


def write_uniform(
    out_dir: Path, scene_id: str, crs: str, bounds: tuple[float, float, float, float], red: float, *,
    when: dt.datetime = WHEN, nir: float = 0.3, resolution: float = 10.0, tile: str = "33TWN",
    edit: Callable[[np.ndarray], np.ndarray] | None = None,
) -> SceneRecord:
    """A B04/B08 scene over ``bounds`` (its CRS, snapped outwards to the resolution)."""
    left = math.floor(bounds[0] / resolution) * resolution
    right = math.ceil(bounds[2] / resolution) * resolution
    bottom = math.floor(bounds[1] / resolution) * resolution
    top = math.ceil(bounds[3] / resolution) * resolution
    shape_ = (int(round((top - bottom) / resolution)), int(round((right - left) / resolution)))
    bands = {}
    for band, value in (("B04", red), ("B08", nir)):
        dn = np.full(shape_, round(value * 10000), dtype=np.uint16)
        if edit is not None:
            dn = edit(dn)
        bands[band] = BandRaster(dn, grid_transform(left, top, resolution))
    item_path = write_stac_scene(out_dir, scene_id, when, bands, crs=crs, processing_baseline="02.14", mgrs_tile=tile)
    return scene_from_item(json.loads(item_path.read_text()), base_href=str(item_path))


def extent(scene: SceneRecord) -> tuple[float, float, float, float]:
    import rasterio

    with rasterio.open(scene.assets["B04"].href) as ds:
        return tuple(ds.bounds)  # type: ignore[return-value]


def utm_bounds(crs: str, lon0: float, lat0: float, lon1: float, lat1: float) -> tuple[float, float, float, float]:
    """Bounds in ``crs`` of a lon/lat box (lon1 may exceed 180: the box crosses the antimeridian)."""
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lons = np.concatenate([np.linspace(lon0, lon1, 50), np.full(50, lon1), np.linspace(lon1, lon0, 50), np.full(50, lon0)])
    lats = np.concatenate([np.full(50, lat0), np.linspace(lat0, lat1, 50), np.full(50, lat1), np.linspace(lat1, lat0, 50)])
    lons = np.where(lons > 180, lons - 360, lons)
    x, y = to_utm.transform(lons, lats)
    return float(np.min(x)), float(np.min(y)), float(np.max(x)), float(np.max(y))


def grid_centres(result: Any) -> tuple[CRS, np.ndarray, np.ndarray]:
    """Every pixel centre of the request grid, in the grid's CRS."""
    g = result.grid
    crs = CRS.from_user_input(g["crs"])
    left, bottom, right, top = g["bounds"]
    rx, ry = g["resolution"]
    xs = left + (np.arange(g["width"]) + 0.5) * rx
    ys = top - (np.arange(g["height"]) + 0.5) * ry
    x, y = np.meshgrid(xs, ys)
    return crs, x.ravel(), y.ravel()


def inside_lonlat_box(crs: CRS, x: np.ndarray, y: np.ndarray, lon0: float, lat0: float, lon1: float, lat1: float) -> np.ndarray:
    """Oracle: centres inside the lon/lat box [lon0, lon1] (unwrapped: lon1 may exceed 180)."""
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    if lon1 > 180:
        lon = np.mod(lon, 360.0)
    return (lon > lon0) & (lon < lon1) & (lat > lat0) & (lat < lat1)


def in_extent(crs_from: CRS, crs_to: str, x: np.ndarray, y: np.ndarray, bounds: tuple[float, float, float, float], margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres surely inside ``bounds`` (in ``crs_to``) by more than ``margin``, and those within ``margin`` of its edge."""
    tx, ty = Transformer.from_crs(crs_from, crs_to, always_xy=True).transform(x, y)
    left, bottom, right, top = bounds
    dist = np.minimum.reduce([tx - left, right - tx, ty - bottom, top - ty])  # > 0 inside
    return dist > margin, np.abs(dist) <= margin


def ndvi(red: float, nir: float = 0.3) -> float:
    return (nir - red) / (nir + red)


# ------------------------------------------------------------------------------ parsing: antimeridian


def test_polygon_across_the_antimeridian_is_split_at_180() -> None:
    aoi = parse_geometry(lonlat_box(179.99, 50.0, -179.99, 50.01))
    geom = aoi.geometry_4326
    assert isinstance(geom, MultiPolygon) and len(geom.geoms) == 2
    bounds = sorted(tuple(round(v, 9) for v in part.bounds) for part in geom.geoms)
    assert bounds == [(-180.0, 50.0, -179.99, 50.01), (179.99, 50.0, 180.0, 50.01)]
    assert geom.area == pytest.approx(0.02 * 0.01)  # not the 359.98-degree-wide strip
    assert aoi.geometry.equals(geom)
    assert any("antimeridian" in w for w in aoi.warnings)
    # in UTM zone 60 (and 1) the two parts join into one ~1.43 km x 1.11 km area
    from pyproj import Geod

    geodesic = abs(Geod(ellps="WGS84").geometry_area_perimeter(shapely.box(179.99, 50.0, 180.01, 50.01))[0])
    assert geodesic == pytest.approx(1430 * 1112, rel=0.01)
    for epsg in (32660, 32601):
        parts = aoi.to_crs(f"EPSG:{epsg}").geoms
        assert parts[0].distance(parts[1]) < 1e-6  # they meet at 180 degrees (up to float noise)
        utm = shapely.union_all([part.buffer(1e-6) for part in parts])
        assert isinstance(utm, Polygon), epsg
        assert utm.area == pytest.approx(geodesic, rel=0.002), epsg


def test_polygon_near_but_not_across_the_antimeridian_is_unchanged() -> None:
    for (lon0, lon1), width in [((179.9, 179.99), 0.09), ((-179.99, -179.9), 0.09), ((179.9, 180.0), 0.1), ((-180.0, -179.9), 0.1)]:
        aoi = parse_geometry(lonlat_box(lon0, 50.0, lon1, 50.01))
        assert isinstance(aoi.geometry_4326, Polygon) and aoi.warnings == ()
        assert aoi.geometry_4326.area == pytest.approx(width * 0.01)
    assert split_antimeridian(Polygon([(0, 0), (1, 0), (1, 1)])) is None


def test_antimeridian_polygon_with_hole_and_multipolygon() -> None:
    outer = [[179.9, -20.0], [-179.9, -20.0], [-179.9, -19.8], [179.9, -19.8], [179.9, -20.0]]
    hole = [[179.95, -19.95], [179.95, -19.85], [-179.95, -19.85], [-179.95, -19.95], [179.95, -19.95]]
    aoi = parse_geometry({"type": "Polygon", "coordinates": [outer, hole]})
    assert aoi.geometry_4326.area == pytest.approx(0.2 * 0.2 - 0.1 * 0.1)
    assert all(-180 <= x <= 180 for x in shapely.get_coordinates(aoi.geometry_4326)[:, 0])
    # a MultiPolygon with one crossing part and one ordinary part
    multi = {"type": "MultiPolygon", "coordinates": [[outer], [[[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]]]]}
    aoi = parse_geometry(multi)
    assert len(aoi.geometry_4326.geoms) == 3 and aoi.geometry_4326.area == pytest.approx(0.2 * 0.2 + 1)


def test_ring_around_a_pole_is_rejected_with_a_message() -> None:
    # steps 120, -240 (a jump: +120 across 180), 120: the unwrapped ring ends 360 degrees east
    polar = [[0, 80], [120, 85], [-120, 80], [0, 80]]
    with pytest.raises(InvalidGeometry, match="pole"):
        parse_geometry({"type": "Polygon", "coordinates": [polar]})


def test_projected_polygon_across_the_antimeridian_has_a_split_lonlat_copy() -> None:
    x0, y0, x1, y1 = utm_bounds("EPSG:32660", 179.99, 50.0, 180.01, 50.01)
    aoi = parse_geometry({"type": "Polygon", "coordinates": [ring(x0, y0, x1, y1)]}, crs="EPSG:32660")
    assert isinstance(aoi.geometry, Polygon)  # the UTM polygon itself is continuous
    assert isinstance(aoi.geometry_4326, MultiPolygon) and len(aoi.geometry_4326.geoms) == 2
    minx, _, maxx, _ = aoi.geometry_4326.bounds
    assert (minx, maxx) == (-180.0, 180.0)
    assert aoi.geometry_4326.area < 0.001  # not a band around the globe
    assert any("antimeridian" in w for w in aoi.warnings)


# ------------------------------------------------------------------------------ two MGRS tiles, one date


def test_overlapping_tiles_of_one_date_mosaic_per_band_earliest_first(tmp_path: Path, engine: Engine) -> None:
    x0, top = 500000.0, 5000000.0

    def b08_gap(dn: np.ndarray) -> np.ndarray:  # tile A has no B08 in its eastern 10 columns
        if dn[0, 0] == 3000:
            dn = dn.copy()
            dn[:, -10:] = 0
        return dn

    a = write_uniform(tmp_path, "A_T33TWN", "EPSG:32633", (x0, top - 300, x0 + 300, top), 0.04, edit=b08_gap)
    b = write_uniform(tmp_path, "B_T33TXN", "EPSG:32633", (x0 + 200, top - 300, x0 + 500, top), 0.06,
                      when=WHEN - dt.timedelta(seconds=30), tile="33TXN", nir=0.4)
    polygon = {"type": "Polygon", "coordinates": [ring(x0 + 100, top - 200, x0 + 400, top - 100)]}  # 30 x 10 px
    for order in ([a, b], [b, a]):
        obs = only(engine.compute(make_request(polygon, time_range=TIME_RANGE), order))
        assert obs.scenes == ("B_T33TXN", "A_T33TWN")  # by acquisition time
        assert obs.pixels == PixelCounts(total=300, valid=300, cloudy=0, nodata=0)
        # B (earlier) wins wherever it has data: x >= 200 m (cols 10..29 of the field) -> 200 px;
        # A fills x 100..200 (100 px). B08: B everywhere it exists (0.4), A's 0.3 on its 100 px.
        assert obs.bands["B04"] == pytest.approx((100 * 0.04 + 200 * 0.06) / 300, abs=TOL)
        assert obs.bands["B08"] == pytest.approx((100 * 0.3 + 200 * 0.4) / 300, abs=TOL)


# ------------------------------------------------------------------------------ two UTM zones


ZONE_BOX = (17.98, 45.0, 18.02, 45.01)  # lon/lat, straddles the 18 degree E zone boundary


@pytest.fixture(scope="module")
def zone_scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SceneRecord]:
    root = tmp_path_factory.mktemp("zones")
    lon0, lat0, lon1, lat1 = ZONE_BOX
    west = write_uniform(root, "W_T33TYL", "EPSG:32633", utm_bounds("EPSG:32633", lon0 - 0.005, lat0 - 0.002, 18.005, lat1 + 0.002), 0.04, tile="33TYL")
    east = write_uniform(root, "E_T34TBR", "EPSG:32634", utm_bounds("EPSG:32634", 17.995, lat0 - 0.002, lon1 + 0.005, lat1 + 0.002), 0.06,
                         when=WHEN + dt.timedelta(seconds=5), tile="34TBR")
    return {"W": west, "E": east}


@pytest.mark.parametrize("grid_zone", ["W", "E"])
def test_polygon_across_two_utm_zones_is_one_observation_over_the_union(zone_scenes: dict[str, SceneRecord], engine: Engine, grid_zone: str) -> None:
    west, east = zone_scenes["W"], zone_scenes["E"]
    # the grid takes the CRS of the first scene on a tie; the other zone is warped onto it
    order = [west, east] if grid_zone == "W" else [east, west]
    result = engine.compute(make_request(lonlat_box(*ZONE_BOX), crs=None, time_range=TIME_RANGE), order)
    obs = only(result)
    assert obs.scenes == ("W_T33TYL", "E_T34TBR")
    assert result.grid["crs"] == ("EPSG:32633" if grid_zone == "W" else "EPSG:32634")
    crs, x, y = grid_centres(result)
    inside = inside_lonlat_box(crs, x, y, *ZONE_BOX)
    assert obs.pixels.total == int(inside.sum()) > 30000
    assert obs.pixels.valid == obs.pixels.total and obs.pixels.nodata == 0  # the union covers it all
    # the west scene was acquired first: its pixels win; the east scene fills the rest
    margin = 0.0 if grid_zone == "W" else 10.0  # same-CRS windows are exact; a warp may move its edge by a pixel
    sure, edge = in_extent(crs, "EPSG:32633", x[inside], y[inside], extent(west), margin)
    n_west_min, n_west_max = int(sure.sum()), int((sure | edge).sum())
    assert 0.3 < n_west_min / obs.pixels.total < 0.8
    lo = (n_west_max * 0.04 + (obs.pixels.total - n_west_max) * 0.06) / obs.pixels.total
    hi = (n_west_min * 0.04 + (obs.pixels.total - n_west_min) * 0.06) / obs.pixels.total
    assert lo - TOL <= obs.bands["B04"] <= hi + TOL
    if grid_zone == "W":
        assert n_west_min == n_west_max
    # values are right on both sides
    assert obs.ndvi["max"] == pytest.approx(ndvi(0.04), abs=1e-6)
    assert obs.ndvi["min"] == pytest.approx(ndvi(0.06), abs=1e-6)


def test_polygon_on_one_side_of_the_zone_boundary_reads_that_side(zone_scenes: dict[str, SceneRecord], engine: Engine) -> None:
    scenes = [zone_scenes["W"], zone_scenes["E"]]
    west_only = only(engine.compute(make_request(lonlat_box(17.982, 45.002, 17.99, 45.008), crs=None, time_range=TIME_RANGE), scenes))
    east_only = only(engine.compute(make_request(lonlat_box(18.01, 45.002, 18.018, 45.008), crs=None, time_range=TIME_RANGE), scenes))
    assert west_only.bands["B04"] == pytest.approx(0.04, abs=TOL) and west_only.pixels.valid == west_only.pixels.total
    assert east_only.bands["B04"] == pytest.approx(0.06, abs=TOL) and east_only.pixels.valid == east_only.pixels.total


# ------------------------------------------------------------------------------ antimeridian


DATELINE_BOX = (179.99, 50.0, -179.99, 50.01)  # RFC 7946: crosses 180 degrees
DATELINE_UNWRAPPED = (179.99, 50.0, 180.01, 50.01)


def write_dateline_archive(root: Path) -> dict[str, SceneRecord]:
    lon0, lat0, lon1, lat1 = DATELINE_UNWRAPPED
    # zone 60 tile reaching 0.005 degrees east of 180, zone 1 tile reaching 0.005 degrees west of it
    west = write_uniform(root, "W_T60UXB", "EPSG:32660", utm_bounds("EPSG:32660", lon0 - 0.005, lat0 - 0.002, 180.005, lat1 + 0.002), 0.04, tile="60UXB")
    east = write_uniform(root, "E_T01UCS", "EPSG:32601", utm_bounds("EPSG:32601", 179.995, lat0 - 0.002, lon1 + 0.005, lat1 + 0.002), 0.06,
                         when=WHEN + dt.timedelta(seconds=5), tile="01UCS")
    # a scene far away in another zone on the same date: a polygon read as spanning the globe would find it
    far = write_uniform(root, "FAR_T32UNA", "EPSG:32632", utm_bounds("EPSG:32632", 10.0, 50.0, 10.01, 50.01), 0.5, tile="32UNA")
    return {"W": west, "E": east, "FAR": far}


def test_scene_footprints_across_the_antimeridian_are_split(tmp_path: Path) -> None:
    scenes = write_dateline_archive(tmp_path)
    for key in ("W", "E"):
        footprint = scenes[key].footprint
        assert isinstance(footprint, MultiPolygon) and len(footprint.geoms) == 2, key
        assert footprint.area < 0.01
    aoi = parse_geometry(lonlat_box(*DATELINE_BOX))
    assert scenes["W"].footprint.intersects(aoi.geometry_4326) and scenes["E"].footprint.intersects(aoi.geometry_4326)
    assert not scenes["FAR"].footprint.intersects(aoi.geometry_4326)


@pytest.mark.parametrize("grid_zone", ["W", "E"])
def test_polygon_across_the_antimeridian_reads_both_sides_into_one_observation(tmp_path: Path, engine: Engine, grid_zone: str) -> None:
    scenes = write_dateline_archive(tmp_path)
    order = [scenes["W"], scenes["E"]] if grid_zone == "W" else [scenes["E"], scenes["W"]]
    result = engine.compute(make_request(lonlat_box(*DATELINE_BOX), crs=None, time_range=TIME_RANGE), order)
    obs = only(result)
    assert obs.scenes == ("W_T60UXB", "E_T01UCS")
    assert result.grid["crs"] == ("EPSG:32660" if grid_zone == "W" else "EPSG:32601")
    crs, x, y = grid_centres(result)
    inside = inside_lonlat_box(crs, x, y, *DATELINE_UNWRAPPED)
    assert obs.pixels.total == int(inside.sum()) > 10000
    assert obs.pixels.valid == obs.pixels.total
    margin = 0.0 if grid_zone == "W" else 10.0
    sure, edge = in_extent(crs, "EPSG:32660", x[inside], y[inside], extent(scenes["W"]), margin)
    n_min, n_max = int(sure.sum()), int((sure | edge).sum())
    assert 0.3 < n_min / obs.pixels.total < 0.9
    lo = (n_max * 0.04 + (obs.pixels.total - n_max) * 0.06) / obs.pixels.total
    hi = (n_min * 0.04 + (obs.pixels.total - n_min) * 0.06) / obs.pixels.total
    assert lo - TOL <= obs.bands["B04"] <= hi + TOL
    assert obs.ndvi["max"] == pytest.approx(ndvi(0.04), abs=1e-6) and obs.ndvi["min"] == pytest.approx(ndvi(0.06), abs=1e-6)


def test_antimeridian_through_the_catalog_and_the_api(app: Any, client: Any, tmp_path: Path) -> None:
    from fis.services.ingest import ingest

    write_dateline_archive(tmp_path / "archive")
    report = ingest([str(tmp_path / "archive")], app.extensions["fis"].sessions)
    assert report.failed == [] and len(report.created) == 3
    response = client.post("/api/v1/timeseries", json={"geometry": lonlat_box(*DATELINE_BOX), "time_range": TIME_RANGE})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["status"] == "OK" and data["errors"] == []
    (obs,) = data["observations"]
    assert obs["scenes"] == ["W_T60UXB", "E_T01UCS"]  # FAR is not in the lon/lat polygon
    assert obs["pixels"]["valid"] == obs["pixels"]["total"] > 10000
    assert 0.04 < obs["bands"]["B04"] < 0.06
    assert data["parameters"]["grid"]["crs"] == "EPSG:32660"
    assert any("antimeridian" in w for w in data["warnings"])
    # the stored AOI is the split MultiPolygon
    stored = client.get(f"/api/v1/timeseries/{data['id']}").get_json()
    geometry = shape(stored["geometry"])
    assert isinstance(geometry, MultiPolygon) and geometry.area == pytest.approx(0.02 * 0.01)


# ------------------------------------------------------------------------------ thin and tiny polygons


X0, Y0 = 500000.0, 5000000.0


@pytest.fixture(scope="module")
def coded_scene(tmp_path_factory: pytest.TempPathFactory) -> SceneRecord:
    """60 x 60 pixels of 10 m at (X0, Y0): B04 DN = 100 + col, B08 DN = 1000 + row."""
    root = tmp_path_factory.mktemp("coded")
    rows, cols = np.mgrid[0:60, 0:60]
    bands = {"B04": (100 + cols).astype(np.uint16), "B08": (1000 + rows).astype(np.uint16)}
    item = write_stac_scene(root, "CODED", WHEN, {b: BandRaster(dn, grid_transform(X0, Y0, 10.0)) for b, dn in bands.items()}, processing_baseline="02.14")
    return scene_from_item(json.loads(item.read_text()), base_href=str(item))


def pixels_used(obs: Any) -> tuple[float, float]:
    """Mean column and mean row of the pixels used (from B04 = 100 + col, B08 = 1000 + row)."""
    return obs.bands["B04"] * 10000 - 100, obs.bands["B08"] * 10000 - 1000


def test_thin_strip_over_pixel_centres_gets_exactly_those_pixels(coded_scene: SceneRecord, engine: Engine) -> None:
    # 1 m wide, 500 m long, centred on the centres of column 3 (x = X0 + 35), rows 1..50
    strip = {"type": "Polygon", "coordinates": [ring(X0 + 34.5, Y0 - 510, X0 + 35.5, Y0 - 10)]}
    for geometry, crs in ((strip, "EPSG:32633"), (to_lonlat(strip), None)):
        obs = only(engine.compute(make_request(geometry, crs=crs, time_range=TIME_RANGE), [coded_scene]))
        assert obs.pixels == PixelCounts(total=50, valid=50, cloudy=0, nodata=0)
        col, row = pixels_used(obs)
        assert col == pytest.approx(3, abs=1e-3) and row == pytest.approx(25.5, abs=1e-3)


def test_thin_strip_between_pixel_centres_gets_the_pixel_of_its_centroid(coded_scene: SceneRecord, engine: Engine) -> None:
    # 1 m wide, 500 m long, between the centre lines of columns 3 and 4: no centre inside
    strip = {"type": "Polygon", "coordinates": [ring(X0 + 41, Y0 - 510, X0 + 42, Y0 - 10)]}
    obs = only(engine.compute(make_request(strip, time_range=TIME_RANGE), [coded_scene]))
    assert obs.pixels == PixelCounts(total=1, valid=1, cloudy=0, nodata=0)
    # centroid (X0 + 41.5, Y0 - 260): column 4, row 26
    assert pixels_used(obs) == pytest.approx((4, 26), abs=1e-3)


def test_thin_diagonal_strip_is_never_empty(coded_scene: SceneRecord, engine: Engine) -> None:
    # 1 m wide, ~500 m long at 45 degrees from (X0 + 50, Y0 - 50)
    line = shapely.LineString([(X0 + 50, Y0 - 50), (X0 + 50 + 353.6, Y0 - 50 - 353.6)])
    strip = shapely.geometry.mapping(line.buffer(0.5, cap_style="flat"))
    obs = only(engine.compute(make_request(json.loads(json.dumps(strip)), time_range=TIME_RANGE), [coded_scene]))
    assert obs.pixels.total >= 1 and obs.pixels.valid == obs.pixels.total
    col, row = pixels_used(obs)
    assert abs(col - row) < 1.0  # the pixels lie along the diagonal


def test_tiny_square_gets_its_pixel(coded_scene: SceneRecord, engine: Engine) -> None:
    square = {"type": "Polygon", "coordinates": [ring(X0 + 123.2, Y0 - 457.9, X0 + 124.2, Y0 - 456.9)]}
    obs = only(engine.compute(make_request(square, time_range=TIME_RANGE), [coded_scene]))
    assert obs.pixels == PixelCounts(total=1, valid=1, cloudy=0, nodata=0)
    assert pixels_used(obs) == pytest.approx((12, 45), abs=1e-3)
    # the same square in lon/lat
    obs = only(engine.compute(make_request(to_lonlat(square), crs=None, time_range=TIME_RANGE), [coded_scene]))
    assert pixels_used(obs) == pytest.approx((12, 45), abs=1e-3)


def test_thin_l_whose_centroid_is_outside_gets_a_pixel_on_the_polygon(coded_scene: SceneRecord, engine: Engine) -> None:
    # two 1 m wide arms between pixel centre lines (x = X0 + 41..42 and y = Y0 - 502..-501):
    # no centre inside, and the centroid lies in the empty corner of the L
    arm_v = shapely.box(X0 + 41, Y0 - 502, X0 + 42, Y0 - 10)
    arm_h = shapely.box(X0 + 41, Y0 - 502, X0 + 531, Y0 - 501)
    ell = shapely.union_all([arm_v, arm_h])
    assert not ell.contains(ell.centroid)
    obs = only(engine.compute(make_request(json.loads(json.dumps(shapely.geometry.mapping(ell))), time_range=TIME_RANGE), [coded_scene]))
    assert obs.pixels.total == 1 == obs.pixels.valid
    col, row = pixels_used(obs)
    pixel = shapely.box(X0 + 10 * col, Y0 - 10 * (row + 1), X0 + 10 * (col + 1), Y0 - 10 * row)
    assert pixel.intersects(ell), (col, row)


def to_lonlat(geometry: dict[str, Any]) -> dict[str, Any]:
    to_ll = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    coords = [[list(to_ll.transform(x, y)) for x, y in r] for r in geometry["coordinates"]]
    return {"type": "Polygon", "coordinates": coords}


# ------------------------------------------------------------------------------ bbox overlaps, polygon does not


def test_scene_in_the_bbox_but_not_under_the_polygon_is_never_opened(app: Any, tmp_path: Path) -> None:
    from fis.services.ingest import ingest
    from fis.store.queries import find_scenes

    svc = app.extensions["fis"]
    root = tmp_path / "archive"
    write_uniform(root, "MAIN", "EPSG:32633", (X0, Y0 - 600, X0 + 600, Y0), 0.04)
    # in the notch of the L: inside the L's bounding box, 100 m from the polygon
    notch = write_uniform(root, "NOTCH", "EPSG:32633", (X0 + 300, Y0 - 300, X0 + 500, Y0 - 100), 0.5)
    notch_later = write_uniform(root, "NOTCH_LATER", "EPSG:32633", (X0 + 300, Y0 - 300, X0 + 500, Y0 - 100), 0.5,
                                when=WHEN + dt.timedelta(days=1))
    assert ingest([str(root)], svc.sessions).failed == []
    for record in (notch, notch_later):  # reading them now would fail the date
        for asset in record.assets.values():
            Path(asset.href).unlink()
    ell = shapely.union_all([shapely.box(X0, Y0 - 600, X0 + 100, Y0), shapely.box(X0, Y0 - 600, X0 + 600, Y0 - 500)])
    request = make_request(json.loads(json.dumps(shapely.geometry.mapping(ell))), time_range=TIME_RANGE)
    assert shape(request.aoi.geometry_4326).envelope.intersects(notch.footprint)  # the bbox does overlap

    opened: list[str] = []
    real = svc.cache.dataset

    def spy(href: str):  # type: ignore[no-untyped-def]
        opened.append(href)
        return real(href)

    svc.cache.dataset = spy  # type: ignore[method-assign]
    try:
        with svc.sessions() as session:
            found = [s.id for s in find_scenes(session, request.aoi.geometry_4326, request.time_range)]
        assert found == ["MAIN"]
        _, result = svc.run_timeseries(request)
    finally:
        del svc.cache.dataset
    assert result.status == "OK" and result.errors == ()
    obs = only(result)
    assert obs.scenes == ("MAIN",)
    assert obs.pixels == PixelCounts(total=60 * 10 + 50 * 10, valid=1100, cloudy=0, nodata=0)
    assert obs.bands["B04"] == pytest.approx(0.04, abs=TOL)
    assert opened and all("/MAIN/" in href for href in opened), opened
    assert not any("NOTCH" in href for href in opened)
