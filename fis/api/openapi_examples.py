"""Examples of the OpenAPI document (:mod:`fis.api.openapi_spec`): request bodies and an abbreviated response."""

from __future__ import annotations

from typing import Any

from fis.core.bands import BANDS
from fis.core.request import CloudMaskSettings
from fis.core.stats import NDVI_STATISTICS

API = "/api/v1"
Schema = dict[str, Any]

#: A field inside the demo archive (``fis demo``); the same as examples/request.json.
REQUEST_EXAMPLE: dict[str, Any] = {
    "geometry": {
        "type": "Polygon",
        "coordinates": [[
            [15.0027534, 46.0519273], [15.0026239, 46.0485972], [15.0072772, 46.048417],
            [15.0074069, 46.0517471], [15.0027534, 46.0519273],
        ]],
    },
    "time_range": {"from": "2023-01-01", "to": "2023-12-31"},
    "resolution": 10,
    "max_cloud_fraction": 0.2,
}

REQUEST_EXAMPLES: Schema = {
    "demo_field": {"summary": "A field of the demo archive, 2023, cloudy dates left out", "value": REQUEST_EXAMPLE},
    "projected_wkt": {"summary": "WKT in UTM 33N with every cloud-mask option", "value": {
        "geometry": "POLYGON ((500213 5099817, 500573 5099797, 500563 5099427, 500203 5099447, 500213 5099817))",
        "crs": "EPSG:32633", "time_range": {"from": "2023-04-01", "to": "2023-09-30T23:59:59Z"},
        "resolution": 20, "cloud_threshold": 0.4, "cloud_mask_resolution": 160, "cloud_mask_average_over": 1,
        "cloud_mask_dilation": 1, "max_cloud_probability": 0.5, "include_cloudy": True}},
    "statistics_options": {"summary": "Clear-pixel statistics, indices, percentiles, a histogram, 10-day intervals",
                           "value": {
        **REQUEST_EXAMPLE, "mask_clouds": True, "indices": {"ndmi": None, "my_ratio": "(B08 - B11) / (B08 + B11)"},
        "statistics": {"percentiles": [0.05, 0.5, 0.95], "histogram": {"bins": 10, "low": -1, "high": 1}},
        "aggregation": {"interval": "P10D", "last_interval": "shorten", "pick": "least_cloudy"}}},
}


def response_example(server_url: str) -> dict[str, Any]:
    """An abbreviated POST response on the demo archive (one observation shown)."""
    sid = "b7c7db2e-dfa4-4932-aa41-8f164f4a787e"
    base = f"{server_url}{API}/timeseries"
    utc = {"from": "2023-01-01T00:00:00Z", "to": "2023-12-31T23:59:59.999999Z"}
    observation = {
        "date": "2023-04-11", "datetime": "2023-04-11T10:05:21Z",
        "scenes": ["S2A_MSIL1C_20230411_T33TWN", "S2A_MSIL1C_20230411_T33UWN"],
        "ndvi": dict(zip(NDVI_STATISTICS, (0.5205, 0.0076, 0.7518, 0.2599, 0.7019, 0.1527, 0.2439, 0.72, 0.7298),
                         strict=True)),
        "bands": dict(zip(BANDS, (0.1247, 0.0994, 0.0943, 0.0844, 0.1127, 0.2016, 0.2413, 0.254, 0.271, 0.08, 0.0013,
                                  0.2026, 0.1241), strict=True)),
        "cloud_probability": 0.0152, "cloud_fraction": 0.0,
        "pixels": {"total": 1334, "valid": 1334, "cloudy": 0, "nodata": 0}, "cloud_source": "s2cloudless",
        "cloudy": False,
    }
    return {
        "id": sid, "status": "OK", "created_at": "2026-11-24T01:07:04.948016Z", "time_range": utc,
        "geometry": REQUEST_EXAMPLE["geometry"],
        "parameters": {
            "crs": "EPSG:4326", "time_range": utc, "resolution": 10.0, "cloud_mask": CloudMaskSettings().to_dict(),
            "max_cloud_fraction": 0.2, "max_cloud_probability": None, "include_cloudy": False,
            "grid": {"crs": "EPSG:32633", "resolution": [10.0, 10.0], "width": 38, "height": 40,
                     "bounds": [500200.0, 5099420.0, 500580.0, 5099820.0]},
            "model": "s2cloudless-v0.1",
        },
        "model": "s2cloudless-v0.1",
        "filter": {"max_cloud_fraction": 0.2, "max_cloud_probability": None, "include_cloudy": False},
        "summary": {"observations": 73, "returned": 1, "cloudy": 30},
        "observations": [observation], "errors": [], "warnings": [],
        "links": {"self": f"{base}/{sid}", "csv": f"{base}/{sid}?format=csv", "collection": base},
    }
