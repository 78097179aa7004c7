"""Tests for fis.core.geometry: parsing, CRS handling, repair and reprojection of AOIs."""

from __future__ import annotations

import json
import math

import pyproj
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from fis.core.geometry import AOI, WGS84, parse_crs, parse_geometry, transform_geometry
from fis.errors import InvalidCRS, InvalidGeometry, InvalidInput

SQUARE = [[[10.0, 45.0], [10.01, 45.0], [10.01, 45.01], [10.0, 45.01], [10.0, 45.0]]]
SQUARE_GJ = {"type": "Polygon", "coordinates": SQUARE}
SQUARE_WKT = "POLYGON((10 45, 10.01 45, 10.01 45.01, 10 45.01, 10 45))"
# A UTM 33N field (~100 m x 100 m) near 15E 45N.
UTM_SQUARE = [[[500000, 5000000], [500100, 5000000], [500100, 5000100], [500000, 5000100], [500000, 5000000]]]


def named_crs(name: str) -> dict:
    return {"type": "name", "properties": {"name": name}}


# ----------------------------------------------------------------------------------- parse_crs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "EPSG:4326"),
        (4326, "EPSG:4326"),
        ("4326", "EPSG:4326"),
        ("EPSG:4326", "EPSG:4326"),
        ("epsg:32633", "EPSG:32633"),
        ("EPSG:32633", "EPSG:32633"),
        ("urn:ogc:def:crs:EPSG::32633", "EPSG:32633"),
        ("http://www.opengis.net/def/crs/EPSG/0/3857", "EPSG:3857"),
        ("CRS84", "OGC:CRS84"),
        ("crs84", "OGC:CRS84"),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "OGC:CRS84"),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84"),
        (" EPSG:3035 ", "EPSG:3035"),
        (pyproj.CRS.from_epsg(32632), "EPSG:32632"),
    ],
)
def test_parse_crs_accepts(value, expected):
    crs = parse_crs(value)
    assert isinstance(crs, pyproj.CRS)
    assert crs.to_string() == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("EPSG:99999", ["'EPSG:99999'", "not a CRS known to PROJ", "EPSG:4326"]),
        ("not a crs", ["'not a crs'", "not a CRS known to PROJ"]),
        ("", ["empty string", "EPSG:"]),
        (0, ["0", "not a valid EPSG code"]),
        (-4326, ["-4326", "not a valid EPSG code"]),
        (True, ["True", "not a CRS identifier", "boolean"]),
        (43.26, ["43.26", "not a CRS identifier"]),
        ({"type": "name"}, ["not a CRS identifier", "object"]),
        ("EPSG:5773", ["EPSG:5773", "not a 2D geographic or projected CRS"]),  # vertical
        ("EPSG:4978", ["EPSG:4978", "not a 2D geographic or projected CRS"]),  # geocentric
    ],
)
def test_parse_crs_rejects(value, words):
    with pytest.raises(InvalidCRS) as info:
        parse_crs(value, field="crs")
    err = info.value
    assert err.field == "crs"
    assert isinstance(err, InvalidInput) and isinstance(err, ValueError)
    for w in words:
        assert w in err.message
    assert err.message.startswith("crs: ")


def test_parse_crs_uses_given_field_name():
    with pytest.raises(InvalidCRS) as info:
        parse_crs("EPSG:99999", field="params.crs")
    assert info.value.field == "params.crs"


# --------------------------------------------------------------------------- accepted geometries


@pytest.mark.parametrize(
    ("value", "kwargs", "geom_type", "crs"),
    [
        (SQUARE_GJ, {}, "Polygon", "EPSG:4326"),
        ({"type": "MultiPolygon", "coordinates": [SQUARE]}, {}, "MultiPolygon", "EPSG:4326"),
        ({"type": "Feature", "properties": {"a": 1}, "geometry": SQUARE_GJ}, {}, "Polygon", "EPSG:4326"),
        ({"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [SQUARE]}}, {}, "MultiPolygon", "EPSG:4326"),
        (json.dumps(SQUARE_GJ), {}, "Polygon", "EPSG:4326"),
        (SQUARE_WKT, {}, "Polygon", "EPSG:4326"),
        ("  " + SQUARE_WKT.lower() + "\n", {}, "Polygon", "EPSG:4326"),
        ("MULTIPOLYGON(((10 45, 10.01 45, 10.01 45.01, 10 45)))", {}, "MultiPolygon", "EPSG:4326"),
        ("POLYGON Z((10 45 1, 10.01 45 1, 10.01 45.01 1, 10 45 1))", {}, "Polygon", "EPSG:4326"),
        ("SRID=32633;POLYGON((500000 5000000, 500100 5000000, 500100 5000100, 500000 5000000))", {}, "Polygon", "EPSG:32633"),
        ({"type": "Polygon", "coordinates": UTM_SQUARE}, {"crs": "EPSG:32633"}, "Polygon", "EPSG:32633"),
        ({"type": "Polygon", "coordinates": UTM_SQUARE}, {"crs": 32633}, "Polygon", "EPSG:32633"),
        ({"type": "Polygon", "coordinates": UTM_SQUARE, "crs": named_crs("urn:ogc:def:crs:EPSG::32633")}, {}, "Polygon", "EPSG:32633"),
        ({"type": "Polygon", "coordinates": UTM_SQUARE, "crs": {"type": "EPSG", "properties": {"code": 32633}}}, {}, "Polygon", "EPSG:32633"),
        ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": UTM_SQUARE}, "crs": named_crs("EPSG:32633")}, {}, "Polygon", "EPSG:32633"),
        ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": UTM_SQUARE, "crs": named_crs("EPSG:32633")}}, {}, "Polygon", "EPSG:32633"),
        (SQUARE_GJ, {"crs": "CRS84"}, "Polygon", "OGC:CRS84"),
        # 3D positions: z is dropped
        ({"type": "Polygon", "coordinates": [[[10, 45, 100], [10.01, 45, 100], [10.01, 45.01, 100], [10, 45, 100]]]}, {}, "Polygon", "EPSG:4326"),
        # integer coordinates
        ({"type": "Polygon", "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 45]]]}, {}, "Polygon", "EPSG:4326"),
    ],
)
def test_parse_geometry_accepts(value, kwargs, geom_type, crs):
    aoi = parse_geometry(value, **kwargs)
    assert isinstance(aoi, AOI)
    assert aoi.geometry.geom_type == geom_type
    assert aoi.geometry_4326.geom_type == geom_type
    assert aoi.crs.to_string() == crs
    assert aoi.geometry.is_valid and aoi.geometry_4326.is_valid
    assert not aoi.geometry.has_z
    assert aoi.warnings == ()
    assert aoi.geometry.area > 0


def test_unclosed_ring_is_closed():
    aoi = parse_geometry({"type": "Polygon", "coordinates": [[[10, 45], [11, 45], [11, 46]]]})
    coords = list(aoi.geometry.exterior.coords)
    assert coords[0] == coords[-1] == (10.0, 45.0)
    assert len(coords) == 4
    assert len(aoi.warnings) == 1 and "coordinates[0] was not closed" in aoi.warnings[0]


def test_wkt_and_geojson_give_same_geometry():
    assert parse_geometry(SQUARE_WKT).geometry.equals(parse_geometry(SQUARE_GJ).geometry)


def test_4326_input_is_not_transformed():
    aoi = parse_geometry(SQUARE_GJ)
    assert aoi.geometry_4326.equals_exact(aoi.geometry, 0)
    assert aoi.crs.equals(WGS84)


# ------------------------------------------------------------------------------ rejected inputs


def poly(coords):
    return {"type": "Polygon", "coordinates": coords}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"type": "Point", "coordinates": [10, 45]}, ["'Point'", "not accepted", "Polygon"]),
        ({"type": "LineString", "coordinates": [[10, 45], [11, 46]]}, ["'LineString'", "not accepted"]),
        ({"type": "MultiPoint", "coordinates": [[10, 45]]}, ["'MultiPoint'", "not accepted"]),
        ({"type": "GeometryCollection", "geometries": [SQUARE_GJ]}, ["'GeometryCollection'", "not accepted"]),
        ({"type": "FeatureCollection", "features": []}, ["FeatureCollection", "not accepted", "one"]),
        ({"type": "Feature", "geometry": None}, ["Feature", "no geometry"]),
        ({"type": "Feature", "properties": {}}, ["Feature", "no geometry"]),
        ({"type": "Feature", "geometry": [1, 2]}, ["Feature.geometry", "GeoJSON object", "list"]),
        ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}, ["'Point'", "not accepted"]),
        ({"type": "Feature", "geometry": {"type": "Feature", "geometry": SQUARE_GJ}}, ["another Feature"]),
        ({"coordinates": SQUARE}, ['no "type"']),
        ({"type": "Polygon"}, ['no "coordinates"']),
        ({"type": "Polygon", "coordinates": None}, ['no "coordinates"']),
        ([SQUARE], ["GeoJSON", "WKT", "list"]),
        (42, ["GeoJSON", "WKT", "number"]),
        (None, ["GeoJSON", "WKT", "null"]),
        (True, ["GeoJSON", "WKT", "boolean"]),
        ("", ["empty string"]),
        ("POINT(10 45)", ["WKT POINT", "not accepted", "POLYGON"]),
        ("LINESTRING(10 45, 11 46)", ["WKT LINESTRING", "not accepted"]),
        ("GEOMETRYCOLLECTION(POLYGON((0 0, 1 0, 1 1, 0 0)))", ["WKT GEOMETRYCOLLECTION", "not accepted"]),
        ("POLYGON((10 45, 11", ["not valid WKT", "POLYGON(("]),
        ("hello", ["'hello'", "not valid WKT"]),
        ("{not json", ["looks like JSON", "does not parse"]),
        ("POLYGON EMPTY", ["empty"]),
        (poly([]), ["empty"]),
        ({"type": "MultiPolygon", "coordinates": []}, ["empty"]),
        ({"type": "MultiPolygon", "coordinates": [[]]}, ["empty"]),
        (poly(SQUARE[0]), ["coordinates[0]", "linear ring", "nesting"]),  # one level too shallow
        (poly([SQUARE]), ["coordinates[0][0]", "list of positions", "nesting"]),  # one level too deep
        (poly("10 45"), ["coordinates", "list of linear rings", "string"]),
        ({"type": "MultiPolygon", "coordinates": SQUARE}, ["coordinates[0][0]", "nesting"]),  # Polygon coords as Multi
        ({"type": "MultiPolygon", "coordinates": {"a": 1}}, ["MultiPolygon coordinates", "list of polygons"]),
        (poly([[[10, 45], [11, 45], [10, 45]]]), ["coordinates[0]", "3 positions", "at least 4"]),
        (poly([[[10, 45], [11, 46]]]), ["coordinates[0]", "2 positions", "at least 4"]),
        (poly([[]]), ["coordinates[0]", "0 positions", "at least 4"]),
        (poly([SQUARE[0], [[10, 45], [10, 45]]]), ["coordinates[1]", "at least 4"]),
        (poly([[[10], [11, 45], [11, 46], [10, 45]]]), ["coordinates[0][0]", "position [x, y]"]),
        (poly([[[10, "45"], [11, 45], [11, 46], [10, 45]]]), ["coordinates[0][0]", "'45'", "must be numbers"]),
        (poly([[[10, True], [11, 45], [11, 46], [10, 45]]]), ["coordinates[0][0]", "True", "must be numbers"]),
        (poly([[[10, None], [11, 45], [11, 46], [10, 45]]]), ["coordinates[0][0]", "None", "must be numbers"]),
        (poly([[[10, 45], [float("nan"), 45], [11, 46], [10, 45]]]), ["coordinates[0][1]", "nan", "NaN or infinite", "finite"]),
        (poly([[[10, 45], [11, float("inf")], [11, 46], [10, 45]]]), ["coordinates[0][1]", "inf", "NaN or infinite"]),
        ("POLYGON((10 45, 11 45, 11 NaN, 10 45))", ["NaN or infinite", "finite"]),
        # collinear ring: invalid and nothing with area after make_valid
        (poly([[[10, 45], [11, 45], [12, 45], [10, 45]]]), ["invalid", "Self-intersection", "nothing with an area"]),
        ("POLYGON((0 0, 1 0, 2 0, 0 0))", ["invalid", "nothing with an area"]),
    ],
)
def test_parse_geometry_rejects(value, words):
    with pytest.raises(InvalidGeometry) as info:
        parse_geometry(value)
    err = info.value
    assert err.field == "geometry"
    assert err.message.startswith("geometry")
    for w in words:
        assert w in err.message, (w, err.message)


def test_field_name_is_used_in_errors():
    with pytest.raises(InvalidGeometry) as info:
        parse_geometry({"type": "Point", "coordinates": [1, 2]}, field="aoi")
    assert info.value.field == "aoi"
    assert info.value.message.startswith("aoi: ")


@pytest.mark.parametrize(
    ("coords", "words"),
    [
        (UTM_SQUARE, ["(500000, 5000000)", "outside lon [-180, 180] / lat [-90, 90]", "projected", '"crs"', "EPSG:4326"]),
        ([[[45, 120], [46, 120], [46, 121], [45, 120]]], ["(45, 120)", "outside", "swapped", '"crs"', "[lon, lat]"]),
        ([[[190, 45], [191, 45], [191, 46], [190, 45]]], ["(190, 45)", "outside", "projected"]),
        ([[[10, -91], [11, -91], [11, -92], [10, -91]]], ["(10, -91)", "outside"]),
    ],
)
def test_geographic_bounds_rejected(coords, words):
    with pytest.raises(InvalidGeometry) as info:
        parse_geometry(poly(coords))
    err = info.value
    assert err.field == "geometry"
    for w in words:
        assert w in err.message, (w, err.message)


def test_geographic_bounds_checked_for_other_geographic_crs():
    with pytest.raises(InvalidGeometry, match="outside lon"):
        parse_geometry(poly(UTM_SQUARE), crs="CRS84")


def test_bounds_edges_are_accepted():
    aoi = parse_geometry(poly([[[179, 89], [180, 89], [180, 90], [179, 89]]]))
    assert aoi.geometry.bounds == (179.0, 89.0, 180.0, 90.0)


@pytest.mark.parametrize(
    ("value", "kwargs", "field"),
    [
        (poly(UTM_SQUARE), {"crs": "EPSG:99999"}, "crs"),
        (poly(UTM_SQUARE), {"crs": "bogus"}, "crs"),
        ({**poly(UTM_SQUARE), "crs": named_crs("EPSG:99999")}, {}, "geometry.crs"),
        ({**poly(UTM_SQUARE), "crs": {"type": "link", "properties": {"href": "http://x"}}}, {}, "geometry.crs"),
        ({**poly(UTM_SQUARE), "crs": "EPSG:32633"}, {}, "geometry.crs"),
        ({**poly(UTM_SQUARE), "crs": {"type": "name", "properties": {"name": 5}}}, {}, "geometry.crs"),
    ],
)
def test_bad_crs_rejected(value, kwargs, field):
    with pytest.raises(InvalidCRS) as info:
        parse_geometry(value, **kwargs)
    assert info.value.field == field
    assert info.value.message.startswith(field + ":")


def test_crs_argument_wins_over_member_with_warning():
    value = {**poly(SQUARE), "crs": named_crs("EPSG:32633")}
    aoi = parse_geometry(value, crs="EPSG:4326")
    assert aoi.crs.to_string() == "EPSG:4326"
    assert len(aoi.warnings) == 1
    assert "ignored" in aoi.warnings[0] and "EPSG:32633" in aoi.warnings[0]


def test_crs_member_same_as_argument_no_warning():
    value = {**poly(UTM_SQUARE), "crs": named_crs("EPSG:32633")}
    assert parse_geometry(value, crs="EPSG:32633").warnings == ()


# --------------------------------------------------------------------------------------- repair


def test_bowtie_is_repaired_with_warning():
    aoi = parse_geometry(poly([[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]))
    assert isinstance(aoi.geometry, MultiPolygon)
    assert len(aoi.geometry.geoms) == 2
    assert aoi.geometry.is_valid
    assert aoi.geometry.area == pytest.approx(0.5)
    assert len(aoi.warnings) == 1
    w = aoi.warnings[0]
    assert "geometry was invalid" in w
    assert "Self-intersection[0.5 0.5]" in w
    assert "make_valid" in w and "check the result" in w
    assert aoi.geometry_4326.is_valid


def test_bowtie_wkt_repaired():
    aoi = parse_geometry("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))")
    assert aoi.geometry.area == pytest.approx(0.5)
    assert "Self-intersection" in aoi.warnings[0]


def test_overlapping_multipolygon_repaired_as_union():
    a = [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]
    b = [[[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]]
    aoi = parse_geometry({"type": "MultiPolygon", "coordinates": [a, b]})
    assert aoi.geometry.is_valid
    assert aoi.geometry.area == pytest.approx(7.0)  # union, the overlap is not dropped
    assert "was invalid" in aoi.warnings[0]


def test_polygon_with_spike_keeps_only_area():
    # the spike (10 0.5)-(20 0.5) collapses to a line; only the square remains
    aoi = parse_geometry("POLYGON((0 0, 1 0, 1 0.5, 20 0.5, 1 0.5, 1 1, 0 1, 0 0))")
    assert aoi.geometry.geom_type in ("Polygon", "MultiPolygon")
    assert aoi.geometry.area == pytest.approx(1.0)
    assert aoi.warnings


def test_holes_are_preserved():
    outer = [[10, 45], [10.1, 45], [10.1, 45.1], [10, 45.1], [10, 45]]
    hole = [[10.04, 45.04], [10.06, 45.04], [10.06, 45.06], [10.04, 45.06], [10.04, 45.04]]
    aoi = parse_geometry(poly([outer, hole]))
    assert isinstance(aoi.geometry, Polygon)
    assert len(aoi.geometry.interiors) == 1
    assert aoi.geometry.area == pytest.approx(0.01 - 0.0004)
    assert aoi.warnings == ()
    assert not aoi.geometry.contains(shapely.Point(10.05, 45.05))


def test_holes_preserved_through_reprojection():
    outer = [[500000, 5000000], [501000, 5000000], [501000, 5001000], [500000, 5001000], [500000, 5000000]]
    hole = [[500400, 5000400], [500600, 5000400], [500600, 5000600], [500400, 5000600], [500400, 5000400]]
    aoi = parse_geometry(poly([outer, hole]), crs="EPSG:32633")
    assert len(aoi.geometry_4326.interiors) == 1
    assert aoi.geometry.area == pytest.approx(1_000_000 - 40_000)


def test_holes_preserved_when_repairing():
    # bow-tie shell plus a hole inside the left lobe
    shell = [[0, 0], [4, 4], [4, 0], [0, 4], [0, 0]]
    hole = [[0.5, 1.8], [1.0, 1.8], [1.0, 2.2], [0.5, 2.2], [0.5, 1.8]]
    aoi = parse_geometry(poly([shell, hole]))
    assert aoi.geometry.is_valid
    assert aoi.geometry.area == pytest.approx(8.0 - 0.2)
    assert aoi.warnings


# ---------------------------------------------------------------------------------- reprojection


def test_epsg3857_known_point():
    x = 1113194.9079  # 10 degrees east on the Web Mercator equator
    coords = [[[x, 0], [x + 1000, 0], [x + 1000, 1000], [x, 1000], [x, 0]]]
    aoi = parse_geometry(poly(coords), crs="EPSG:3857")
    minx, miny, maxx, maxy = aoi.geometry_4326.bounds
    assert minx == pytest.approx(10.0, abs=1e-7)
    assert miny == pytest.approx(0.0, abs=1e-9)
    assert maxx == pytest.approx(10.0 + 1000 / 111319.49079, abs=1e-7)
    assert aoi.crs.to_string() == "EPSG:3857"
    assert aoi.geometry.bounds[0] == x  # original kept in its own CRS


def test_epsg3857_named_crs_member_url_form():
    x = 1113194.9079
    value = {
        "type": "Feature",
        "geometry": poly([[[x, 0], [x + 500, 0], [x + 500, 500], [x, 0]]]),
        "crs": named_crs("http://www.opengis.net/def/crs/EPSG/0/3857"),
    }
    aoi = parse_geometry(value)
    assert aoi.geometry_4326.bounds[0] == pytest.approx(10.0, abs=1e-7)


def test_axis_order_is_lon_lat_for_epsg4326():
    aoi = parse_geometry(poly([[[9, 45], [9.01, 45], [9.01, 45.01], [9, 45]]]), crs="EPSG:4326")
    utm = aoi.to_crs("EPSG:32632")  # 9E is the central meridian of zone 32
    assert utm.bounds[0] == pytest.approx(500000, abs=1e-3)
    assert 4_980_000 < utm.bounds[1] < 4_990_000  # 45N


def test_utm_input_to_lonlat():
    aoi = parse_geometry(poly(UTM_SQUARE), crs="urn:ogc:def:crs:EPSG::32633")
    minx, miny, _, _ = aoi.geometry_4326.bounds
    assert minx == pytest.approx(15.0, abs=1e-6)  # central meridian of zone 33
    assert miny == pytest.approx(45.1535, abs=1e-3)


def test_to_crs_roundtrip_and_identity():
    aoi = parse_geometry(poly(UTM_SQUARE), crs="EPSG:32633")
    assert aoi.to_crs("EPSG:32633") is aoi.geometry
    assert aoi.to_crs(4326) is aoi.geometry_4326
    assert aoi.to_crs("CRS84") is aoi.geometry_4326
    back = transform_geometry(aoi.geometry_4326, WGS84, pyproj.CRS.from_epsg(32633))
    assert back.symmetric_difference(aoi.geometry).area < 1e-3
    other = aoi.to_crs(pyproj.CRS.from_epsg(3035))
    assert other.area == pytest.approx(10_000, rel=1e-3)


def test_to_crs_bad_crs():
    aoi = parse_geometry(SQUARE_GJ)
    with pytest.raises(InvalidCRS):
        aoi.to_crs("EPSG:99999")


def test_transform_preserves_type_and_densifies():
    big = Polygon([(0, 0), (40, 0), (40, 60), (0, 60), (0, 0)])
    out = transform_geometry(big, WGS84, pyproj.CRS.from_epsg(3857))
    assert isinstance(out, Polygon)
    assert len(out.exterior.coords) > 100  # long edges were densified
    mp = MultiPolygon([big])
    assert isinstance(transform_geometry(mp, WGS84, pyproj.CRS.from_epsg(3857)), MultiPolygon)


def test_densification_follows_the_curve():
    # A long UTM edge is a curve in lon/lat: its midpoint must map to the true midpoint.
    utm = pyproj.CRS.from_epsg(32633)
    line_poly = Polygon([(300000, 5000000), (700000, 5000000), (700000, 5400000), (300000, 5000000)])
    out = transform_geometry(line_poly, utm, WGS84)
    mid_lon, mid_lat = pyproj.Transformer.from_crs(utm, WGS84, always_xy=True).transform(500000, 5000000)
    # the densified southern edge passes (nearly) exactly through the true midpoint
    assert out.exterior.distance(shapely.Point(mid_lon, mid_lat)) < 1e-4


def test_small_polygons_are_not_densified():
    aoi = parse_geometry(poly(UTM_SQUARE), crs="EPSG:32633")
    assert len(aoi.geometry_4326.exterior.coords) == 5


def test_transform_out_of_domain():
    # UTM coordinates far outside the projection's valid area cannot be inverted
    coords = [[[1e12, 1e12], [1e12 + 10, 1e12], [1e12 + 10, 1e12 + 10], [1e12, 1e12]]]
    with pytest.raises(InvalidGeometry) as info:
        parse_geometry(poly(coords), crs="EPSG:32633")
    assert info.value.field == "geometry"
    assert "cannot transform" in info.value.message


def test_aoi_is_frozen_and_hashable():
    aoi = parse_geometry(SQUARE_GJ)
    with pytest.raises(AttributeError):
        aoi.crs = WGS84  # type: ignore[misc]
    assert math.isclose(aoi.geometry.area, 1e-4, rel_tol=1e-9)
