"""Precomputed CLP/CLM layers on real Sentinel-2 L1C data, against the on-the-fly mask and Sentinel Hub.

The 5 real acquisitions of ../shared/data/s2-reference are written and ingested as in
tests/test_reference.py (same helpers), ``fis clouds``' service computes the default layers
(s2cloudless at 160 m, threshold 0.4, average_over 1, dilation 1), and every request is
computed twice: with the layers (``cloud_source == "precomputed"``) and with the engine told
to ignore them (``"s2cloudless"``, the mask computed at request time on the same 160 m cells).
Both are compared per date with Sentinel Hub's own CLM (sh_clm.npy, made at 160 m) averaged
over the same pixels.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fis.core.bands import BANDS
from fis.demo.synthetic import BandRaster, write_stac_scene
from fis.engine.cloudlayers import CloudLayerSettings
from test_reference import ACQUISITIONS, CLOUDY_DATES, Reference, reference  # noqa: F401 - fixture

pytestmark = pytest.mark.reference

TOLERANCE = 0.05


@pytest.fixture(scope="module")
def services(reference: Reference, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fis.config import Settings
    from fis.services.ingest import ingest
    from fis.services.runtime import Services
    from fis.store.db import upgrade

    root = tmp_path_factory.mktemp("reference-layers")
    archive = root / "archive"
    for i, acquired in enumerate(ACQUISITIONS):  # the writer of tests/test_reference.py
        dn = np.rint(reference.scenes[i].astype(np.float64) * 10000)
        bands = {band: BandRaster(dn[..., k].astype(np.uint16), reference.transform) for k, band in enumerate(BANDS)}
        when = dt.datetime.fromisoformat(acquired).replace(tzinfo=dt.UTC)
        write_stac_scene(
            archive, f"S2A_MSIL1C_{acquired[:10].replace('-', '')}_T33TWM", when, bands,
            crs="EPSG:32633", processing_baseline="02.01", mgrs_tile="33TWM",
        )
    svc = Services.create(Settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'fis.sqlite'}"))
    upgrade(svc.db)
    assert ingest([str(archive)], svc.sessions).failed == []
    report = svc.compute_cloud_layers(CloudLayerSettings(model=svc.engine.model.name))
    assert report.failed == [] and len(report.computed) == 5
    yield svc
    svc.close()


def both_paths(svc: Any, geometry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Observations by date with the layers and without them (mask computed at request time)."""
    from fis.core.request import parse_timeseries_request
    from fis.engine.engine import Engine
    from fis.store.queries import find_scenes

    request = parse_timeseries_request(
        {"geometry": geometry, "crs": "EPSG:32633", "time_range": {"from": "2015-07-01", "to": "2015-09-30"}}
    )
    with svc.sessions() as session:
        scenes = find_scenes(session, request.aoi.geometry_4326, request.time_range)
    assert len(scenes) == 5 and all("CLM" in s.assets for s in scenes)
    layers = svc.engine.compute(request, scenes)
    fly = Engine(svc.engine.model, use_cloud_layers=False).compute(request, scenes)
    assert layers.errors == () == fly.errors
    return {o.date.isoformat(): o for o in layers.observations}, {o.date.isoformat(): o for o in fly.observations}


def box(reference: Reference, row0: int, col0: int, row1: int, col1: int) -> dict[str, Any]:
    """Polygon along the outer edges of pixel rows row0..row1-1, cols col0..col1-1."""
    t = reference.transform
    x0, x1 = t.c + col0 * t.a, t.c + col1 * t.a
    y0, y1 = t.f + row0 * t.e, t.f + row1 * t.e
    return {"type": "Polygon", "coordinates": [[[x0, y1], [x1, y1], [x1, y0], [x0, y0], [x0, y1]]]}


@pytest.mark.parametrize(
    "window",
    [(0, 0, 101, 100), (35, 35, 65, 65), (0, 0, 50, 50), (51, 50, 101, 100)],
    ids=["whole", "interior-30px", "north-west", "south-east"],
)
def test_layers_and_on_the_fly_mask_agree_with_each_other_and_with_sentinel_hub(
    services: Any, reference: Reference, window: tuple[int, int, int, int]
) -> None:
    """Both paths within 0.05 of each other and of Sentinel Hub's CLM mean, per date.

    Measured: the two fis paths give identical masks (same 160 m cells, same recipe, same
    neighbourhood: the layer's cells outside the scene carry no data, like the margin of the
    on-the-fly cloud grid), and on every window both equal Sentinel Hub's CLM mean exactly
    (1.0 on 2015-07-31 and 2015-08-20, 0.0 on the other dates). This data is all-cloud or
    all-clear per date, so the CLM check cannot tell recipes apart; the probability test
    below compares the continuous CLP.
    """
    row0, col0, row1, col1 = window
    layers, fly = both_paths(services, box(reference, *window))
    assert sorted(layers) == sorted(fly) == sorted(a[:10] for a in ACQUISITIONS)
    for i, acquired in enumerate(ACQUISITIONS):
        date = acquired[:10]
        a, b = layers[date], fly[date]
        assert a.cloud_source == "precomputed" and b.cloud_source == "s2cloudless"
        assert a.pixels.total == b.pixels.total == (row1 - row0) * (col1 - col0)
        assert a.cloud_fraction == pytest.approx(b.cloud_fraction, abs=TOLERANCE), date
        sh = float(reference.clm[reference.sh_index(i)][row0:row1, col0:col1].mean())
        assert a.cloud_fraction == pytest.approx(sh, abs=TOLERANCE), (date, a.cloud_fraction, sh)
        assert b.cloud_fraction == pytest.approx(sh, abs=TOLERANCE), (date, b.cloud_fraction, sh)
        if window == (0, 0, 101, 100):
            assert (a.cloud_fraction > 0.5) is (date in CLOUDY_DATES)
        # the object-level probability does not depend on where the mask came from
        assert a.cloud_probability == b.cloud_probability


def test_layer_probability_is_the_on_the_fly_probability_to_one_clp_step(services: Any, reference: Reference, shared_data: Path) -> None:
    """Per pixel, CLP / 255 is the on-the-fly probability to half a CLP step; per date, its mean
    is within 0.02 of Sentinel Hub's CLP mean (measured: 0.008/0.010, 0.751/0.742, 0.974/0.971,
    0.020/0.024, 0.027/0.032 for 07-11, 07-31, 08-20, 08-30, 09-09). Per pixel SH's CLP differs
    by up to 0.43 at cloud edges: its 160 m cells are not aligned with ours."""
    from fis.core.request import parse_timeseries_request
    from fis.engine.engine import Engine
    from fis.store.queries import find_scenes

    request = parse_timeseries_request(
        {"geometry": box(reference, 0, 0, 101, 100), "crs": "EPSG:32633", "time_range": {"from": "2015-07-01", "to": "2015-09-30"}}
    )
    with services.sessions() as session:
        scenes = find_scenes(session, request.aoi.geometry_4326, request.time_range)
    layers = {i.date: i.outcome for i in services.engine.iter_dates(request, scenes)}
    fly = {i.date: i.outcome for i in Engine(services.engine.model, use_cloud_layers=False).iter_dates(request, scenes)}
    sh_clp = np.load(shared_data / "s2-reference" / "sh_clp.npy")[..., 0].astype(np.float64)
    dates = [a[:10] for a in ACQUISITIONS]
    assert len(layers) == 5
    for date, outcome in layers.items():
        assert np.array_equal(outcome.cloudy, fly[date].cloudy), date
        assert np.allclose(outcome.probability, fly[date].probability, atol=0.5 / 255 + 1e-6), date
        sh = sh_clp[reference.sh_index(dates.index(date.isoformat()))]
        assert float(outcome.probability.mean()) == pytest.approx(float(sh.mean()), abs=0.02), date
