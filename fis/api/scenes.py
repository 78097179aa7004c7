"""``GET /api/v1/scenes``: the registered acquisitions, as a GeoJSON FeatureCollection."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import shapely
from flask import Blueprint, jsonify, request, send_file
from flask.typing import ResponseReturnValue
from shapely.geometry import mapping

from fis.api.context import services
from fis.core.bands import BANDS
from fis.core.scenes import SceneRecord
from fis.core.timerange import parse_interval
from fis.errors import InvalidInput, NotFound
from fis.protocols.native.query import ScenesQuery
from fis.store.queries import find_scenes, get_scene

blueprint = Blueprint("scenes", __name__, url_prefix="/api/v1/scenes")


def parse_bbox(text: str | None) -> shapely.Polygon | None:
    """``minx,miny,maxx,maxy`` in lon/lat -> a box, or None."""
    if text is None or text == "":
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidInput(f"bbox={text!r} must be four numbers minlon,minlat,maxlon,maxlat", field="bbox") from None
    if len(values) != 4 or not all(map(lambda v: v == v and abs(v) != float("inf"), values)):
        raise InvalidInput(f"bbox={text!r} must be four finite numbers minlon,minlat,maxlon,maxlat", field="bbox")
    min_x, min_y, max_x, max_y = values
    if min_x > max_x or min_y > max_y:
        raise InvalidInput(f"bbox={text!r}: min must not exceed max (minlon,minlat,maxlon,maxlat)", field="bbox")
    if not (-180 <= min_x <= 180 and -180 <= max_x <= 180 and -90 <= min_y <= 90 and -90 <= max_y <= 90):
        raise InvalidInput(f"bbox={text!r} is outside lon -180..180 / lat -90..90", field="bbox")
    return shapely.box(min_x, min_y, max_x, max_y)


def scene_feature(scene: SceneRecord) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": scene.id,
        "geometry": mapping(scene.footprint),
        "bbox": list(scene.footprint.bounds),
        "properties": {
            "datetime": scene.datetime.isoformat().replace("+00:00", "Z"),
            "date": scene.date.isoformat(),
            "collection": scene.collection,
            "platform": scene.platform,
            "tile": scene.tile,
            "processing_baseline": scene.processing_baseline,
            "product_level": scene.product_level,
            "crs": scene.crs,
            "bands": [band for band in BANDS if band in scene.assets],
            "cloud_layers": scene.properties.get("cloud_layers"),
            "radiometry": {band: asset.radiometry.to_dict() for band, asset in scene.assets.items()},
        },
    }


@blueprint.get("")
def list_scenes() -> ResponseReturnValue:
    svc = services()
    query = ScenesQuery.from_args(request.args)
    area = parse_bbox(query.bbox)
    interval = parse_interval(query.datetime, field="datetime") if query.datetime else None
    limit = 100 if query.limit is None else query.limit
    offset = query.offset or 0
    with svc.sessions() as session:
        scenes = find_scenes(session, area, interval, limit=limit + 1, offset=offset)
    more = len(scenes) > limit
    scenes = scenes[:limit]
    links = {}
    if more:
        next_args = {**request.args.to_dict(), "limit": limit, "offset": offset + limit}
        links["next"] = request.base_url + "?" + urlencode(next_args)
    return jsonify({
        "type": "FeatureCollection",
        "features": [scene_feature(s) for s in scenes],
        "numberReturned": len(scenes),
        "links": links,
    })


@blueprint.get("/<scene_id>")
def get_scene_feature(scene_id: str) -> ResponseReturnValue:
    """One scene as a GeoJSON Feature."""
    with services().sessions() as session:
        scene = get_scene(session, scene_id)
    return jsonify(scene_feature(scene))


@blueprint.get("/<scene_id>/<any(clp, clm, CLP, CLM):layer>")
def get_cloud_layer(scene_id: str, layer: str) -> ResponseReturnValue:
    """Download a precomputed cloud layer (CLP or CLM) of a scene as a GeoTIFF."""
    name = layer.upper()
    with services().sessions() as session:
        scene = get_scene(session, scene_id)
    asset = scene.assets.get(name)
    if asset is None or not Path(asset.href).is_file():
        raise NotFound(
            f"scene {scene_id!r} has no precomputed {name} layer; compute it with `fis clouds --scene {scene_id}`",
            field="layer",
        )
    return send_file(
        asset.href, mimetype="image/tiff; application=geotiff; profile=cloud-optimized",
        as_attachment=True, download_name=f"{scene_id}_{name}.tif", conditional=True,
    )
