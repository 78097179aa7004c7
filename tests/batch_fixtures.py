"""Fields over the test archive (tests/fis_archive.py) as vector files, and a real dask LocalCluster.

``FIELDS``: nine 60 m x 60 m boxes (EPSG:32633) on a 3 x 3 grid inside the archive's 600 m x 600 m
extent, ids ``f0``..``f8``; the cluster has two worker processes, one thread each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import box

from fis_archive import CRS, TIME_RANGE

FIELD_SIZE = 60.0


def field_boxes() -> list[Any]:
    return [
        box(500100 + 150 * i, 5000100 + 150 * j, 500100 + 150 * i + FIELD_SIZE, 5000100 + 150 * j + FIELD_SIZE)
        for j in range(3) for i in range(3)
    ]


def fields_frame() -> gpd.GeoDataFrame:
    boxes = field_boxes()
    return gpd.GeoDataFrame(
        {"field": [f"f{i}" for i in range(len(boxes))], "crop": ["wheat" if i % 2 else "maize" for i in range(len(boxes))],
         "area_ha": [0.36] * len(boxes)},
        geometry=boxes, crs=CRS,
    )


def write_fields(path: Path, frame: gpd.GeoDataFrame | None = None, **kwargs: Any) -> Path:
    frame = fields_frame() if frame is None else frame
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path, **kwargs)
    return path


def batch_options(**extra: Any) -> dict[str, Any]:
    return {"time_range": dict(TIME_RANGE), **extra}


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A LocalCluster of two worker processes (one thread each) for the module's tests."""
    from fis.services.batch import open_batch_client

    client = open_batch_client(workers=2)
    try:
        yield client
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()
