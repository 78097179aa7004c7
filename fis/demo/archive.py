"""A realistic, self-generated demo archive of Sentinel-2 L1C scenes (COG + STAC).

:func:`build_demo_archive` renders one year of acquisitions over a small agricultural area:
crop fields that follow seasonal NDVI curves (winter wheat, winter barley, maize, a mown
meadow), grassland, a forest strip, a lake, a village and a fallow field; plus weather
(clear, overcast thick cloud, partial cumulus with shadows, thin cirrus). Every date is
written as ``tiles`` overlapping scenes ("MGRS tiles", west to east), so a service must
mosaic them into one observation per date. Values are Level-1C top-of-atmosphere
reflectance encoded with processing baseline 05.09 (DN = reflectance * 10000 + 1000).

Spectra were tuned against the real s2cloudless LightGBM model: clear pixels get
P(cloud) < 0.2, thick cloud > 0.8 (see ``tests/test_demo.py``).

Layout written::

    <out_dir>/fields.geojson                                   demo field polygons (EPSG:4326)
    <out_dir>/<scene_id>/<scene_id>.json, <band>.tif           one folder per scene
    scene_id = S2A_MSIL1C_20230101_T33TWN (S2A/S2B alternate by date)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from rasterio.features import rasterize
from shapely import Polygon, box, segmentize
from shapely import transform as shapely_transform
from shapely.geometry import mapping

from fis.core.bands import BANDS, NATIVE_RESOLUTION
from fis.demo.synthetic import BandRaster, reflectance_to_dn, write_stac_scene
from fis.errors import InvalidCRS, InvalidInput

__all__ = ["DEMO_BASELINE", "SPECTRA", "WEATHER_KINDS", "DemoArchive", "build_demo_archive"]

DEMO_BASELINE: Final = "05.09"
BASE_RESOLUTION: Final = 10.0
_MGRS_TILES: Final = ("33TWN", "33UWN", "33TXN", "33UXN")
_IDX: Final[dict[str, int]] = {b: i for i, b in enumerate(BANDS)}

#: Level-1C TOA reflectance end-members in band order B01..B12 (BANDS). TOA, not surface:
#: the blue bands carry path radiance (B01 ~0.10, B02 ~0.07 over vegetation), B09 is damped by
#: water vapour and B10 (cirrus, 1375 nm) is ~0.001 over clear land. Magnitudes follow the
#: eo-learn reference scenes in ../shared/data/s2-reference.
SPECTRA: Final[dict[str, tuple[float, ...]]] = {
    #            B01    B02    B03    B04    B05    B06    B07    B08    B8A    B09    B10     B11    B12
    "vegetation": (0.100, 0.072, 0.064, 0.036, 0.080, 0.240, 0.310, 0.330, 0.355, 0.100, 0.0012, 0.175, 0.078),
    "soil":       (0.112, 0.090, 0.092, 0.108, 0.122, 0.136, 0.144, 0.150, 0.160, 0.066, 0.0012, 0.250, 0.190),
    "residue":    (0.108, 0.086, 0.092, 0.100, 0.126, 0.160, 0.176, 0.186, 0.200, 0.076, 0.0012, 0.285, 0.205),
    "forest":     (0.098, 0.068, 0.056, 0.030, 0.060, 0.180, 0.230, 0.250, 0.270, 0.085, 0.0010, 0.120, 0.050),
    "water":      (0.102, 0.072, 0.056, 0.028, 0.028, 0.022, 0.020, 0.018, 0.018, 0.008, 0.0008, 0.010, 0.007),
    "urban":      (0.125, 0.105, 0.105, 0.112, 0.125, 0.140, 0.150, 0.158, 0.165, 0.065, 0.0014, 0.215, 0.185),
    # Cloud shape, scaled by a VNIR brightness (overcast 0.36-0.60, cumulus 0.42-0.65). SWIR is
    # lower (water/ice absorption), B09 damped; B10 is set per weather kind (thick high cloud
    # 0.02-0.045, low cumulus ~0.004, thin cirrus 0.01-0.04 over otherwise clear land).
    "cloud":      (1.000, 0.985, 0.965, 0.960, 0.970, 0.985, 1.000, 1.000, 1.010, 0.420, 0.0,    0.720, 0.500),
}
#: Relative additive brightening of thin cirrus per band, times the cirrus B10 reflectance.
_CIRRUS_GAIN: Final = np.array([1.1, 1.05, 1.0, 1.0, 1.0, 0.95, 0.95, 0.95, 0.95, 0.5, 0.0, 0.8, 0.6])
#: Per-date aerosol path radiance shape (added to the blue end).
_AEROSOL: Final = np.array([0.020, 0.015, 0.010, 0.006, 0.005, 0.004, 0.003, 0.003, 0.003, 0.002, 0.0, 0.001, 0.0])

WEATHER_KINDS: Final = ("clear", "overcast", "cumulus", "cirrus")


@dataclass(frozen=True)
class DemoArchive:
    """What :func:`build_demo_archive` wrote."""

    root: Path
    items: list[Path]
    """STAC Item JSON files, sorted by date then tile (west first)."""
    fields: dict[str, dict[str, Any]]
    """Field name -> GeoJSON Polygon (EPSG:4326, lon/lat)."""
    bbox: tuple[float, float, float, float]
    """(west, south, east, north) of the 10 m demo area in lon/lat."""
    weather: dict[_dt.date, str] = field(default_factory=dict)
    """Ground truth per acquisition date: ``clear``, ``overcast``, ``cumulus`` or ``cirrus``."""


# --------------------------------------------------------------------------- seasonal curves


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 60.0), -60.0)))


@dataclass(frozen=True)
class _Crop:
    """Green fraction, dry residue fraction over the year (day of year)."""

    kind: str
    green_up: float = 95.0
    green_rate: float = 10.0
    senescence: float = 170.0
    harvest: float = 200.0
    plough: float = 235.0
    autumn_sowing: float | None = 290.0
    peak: float = 0.97
    winter: float = 0.05

    def fractions(self, doy: float) -> tuple[float, float]:
        """(green vegetation, dry residue) cover fractions on day of year ``doy``."""
        if self.kind == "meadow":
            green = 0.42 + 0.50 * _sig((doy - self.green_up) / self.green_rate) * (1 - _sig((doy - 300) / 15))
            for cut in (self.senescence, self.harvest):  # two mowing dates
                if doy >= cut:
                    green *= 1 - 0.55 * math.exp(-(doy - cut) / 18.0)
            return min(green, 0.97), 0.0
        grow = _sig((doy - self.green_up) / self.green_rate)
        sen = _sig((doy - self.senescence) / 7.0)
        cut = _sig((doy - self.harvest) / 1.5)
        plough = _sig((doy - self.plough) / 3.0)
        autumn = 0.0 if self.autumn_sowing is None else _sig((doy - self.autumn_sowing) / 12.0)
        season_green = self.winter * (1 - grow) + self.peak * grow * (1 - sen)
        season_dry = 0.9 * grow * sen
        green = (1 - cut) * season_green + cut * (self.winter * autumn + 0.04 * (1 - plough))
        dry = (1 - cut) * season_dry + cut * 0.35 * (1 - plough)
        return float(green), float(dry)


def _jitter_crop(rng: np.random.Generator, crop: _Crop) -> _Crop:
    shift = float(rng.normal(0, 4))
    return _Crop(
        kind=crop.kind,
        green_up=crop.green_up + shift,
        green_rate=crop.green_rate,
        senescence=crop.senescence + shift + float(rng.normal(0, 3)),
        harvest=crop.harvest + shift + float(rng.normal(0, 3)),
        plough=crop.plough + float(rng.normal(0, 5)),
        autumn_sowing=None if crop.autumn_sowing is None else crop.autumn_sowing + float(rng.normal(0, 5)),
        peak=float(np.clip(crop.peak + rng.normal(0, 0.015), 0.85, 0.99)),
        winter=crop.winter,
    )


_CROPS: Final[dict[str, _Crop]] = {
    "winter-wheat": _Crop("winter-wheat"),
    "winter-barley": _Crop("winter-barley", green_up=85, senescence=158, harvest=185, plough=220),
    "maize": _Crop("maize", green_up=168, green_rate=8, senescence=258, harvest=282, plough=300,
                   autumn_sowing=None, peak=0.96, winter=0.0),
    "meadow": _Crop("meadow", green_up=80, green_rate=12, senescence=152, harvest=218),
    "grassland": _Crop("meadow", green_up=80, green_rate=12, senescence=999, harvest=999),  # never mown
}

#: Field name -> (crop, polygon vertices as fractions (east, south) of the demo area).
_FIELDS: Final[dict[str, tuple[str, tuple[tuple[float, float], ...]]]] = {
    "wheat-north": ("winter-wheat", ((0.07, 0.06), (0.36, 0.06), (0.36, 0.34), (0.07, 0.34))),
    "maize-east": ("maize", ((0.46, 0.40), (0.72, 0.40), (0.72, 0.66), (0.46, 0.66))),
    "meadow-L": ("meadow", ((0.07, 0.45), (0.36, 0.45), (0.36, 0.62), (0.21, 0.62), (0.21, 0.92), (0.07, 0.92))),
    "barley-south-east": ("winter-barley", ((0.68, 0.74), (0.93, 0.72), (0.95, 0.92), (0.70, 0.93))),
}
_FIELD_INSET_M: Final = 10.0  # published polygons exclude the mixed edge pixels

# land-cover codes of the static map
_GRASS, _FOREST, _WATER, _URBAN, _FALLOW, _FIELD0 = 0, 1, 2, 3, 4, 10


# --------------------------------------------------------------------------- raster helpers


def _upsample_axis0(coarse: np.ndarray, n_out: int, cell: float) -> np.ndarray:
    """Linear interpolation of a coarse grid (spacing ``cell`` pixels) along axis 0."""
    pos = (np.arange(n_out) + 0.5) / cell
    lo = np.clip(np.floor(pos).astype(int), 0, coarse.shape[0] - 2)
    frac = (pos - lo)[:, None]
    upsampled: np.ndarray = coarse[lo] * (1 - frac) + coarse[lo + 1] * frac
    return upsampled


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Smooth random field (bilinear upsampled Gaussian grid), ~zero mean, unit std."""
    h, w = shape
    ch, cw = math.ceil(h / cell_px) + 2, math.ceil(w / cell_px) + 2
    coarse = rng.standard_normal((ch, cw))
    out = _upsample_axis0(_upsample_axis0(coarse, h, cell_px).T, w, cell_px).T
    std = out.std()
    normalised: np.ndarray = (out - out.mean()) / (std if std > 0 else 1.0)
    return normalised


def _blobs(centres: np.ndarray, radii: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sum of separable Gaussian blobs (pixel units)."""
    h, w = shape
    y = np.arange(h) + 0.5
    x = np.arange(w) + 0.5
    out = np.zeros(shape)
    for (cy, cx), r in zip(centres, radii, strict=True):
        out += np.outer(np.exp(-((y - cy) ** 2) / (2 * r * r)), np.exp(-((x - cx) ** 2) / (2 * r * r)))
    return out


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """Average ``f`` x ``f`` blocks over the last two axes (shape divisible by f)."""
    if f == 1:
        return a
    *lead, h, w = a.shape
    means: np.ndarray = a.reshape(*lead, h // f, f, w // f, f).mean(axis=(-3, -1))
    return means


# --------------------------------------------------------------------------- the scene model


@dataclass
class _Landscape:
    shape: tuple[int, int]
    cover: np.ndarray  # int land-cover / field code
    crops: list[_Crop]  # per field index
    vigour: np.ndarray  # per-pixel green fraction multiplier around 1
    soil_brightness: np.ndarray
    urban_mix: np.ndarray  # urban fraction in the village (rest: gardens)


def _polygon_m(vertices: tuple[tuple[float, float], ...], origin: tuple[float, float], length: float) -> Polygon:
    """Fractional (east, south) vertices -> metric polygon, vertices 3 m off the 10 m grid lines."""
    x0, y0 = origin

    def snap(v: float) -> float:
        return math.floor(v / BASE_RESOLUTION) * BASE_RESOLUTION + 3.0

    return Polygon([(x0 + snap(u * length), y0 - snap(v * length)) for u, v in vertices])


def _build_landscape(
    rng: np.random.Generator, canvas: int, size_px: int, transform: Affine, origin: tuple[float, float]
) -> tuple[_Landscape, dict[str, Polygon], dict[str, str]]:
    shape = (canvas, canvas)
    length = size_px * BASE_RESOLUTION
    rows, cols = np.mgrid[0:canvas, 0:canvas]
    u = (cols + 0.5) / size_px  # fraction east
    v = (rows + 0.5) / size_px  # fraction south
    cover = np.full(shape, _GRASS, dtype=np.int16)
    cover[v > 0.955] = _FOREST
    cover[((u - 0.82) / 0.10) ** 2 + ((v - 0.20) / 0.08) ** 2 <= 1.0] = _WATER
    village = (u > 0.45) & (u < 0.62) & (v > 0.06) & (v < 0.28)
    cover[village] = _URBAN
    cover[(u > 0.40) & (u < 0.62) & (v > 0.74) & (v < 0.93)] = _FALLOW

    polygons: dict[str, Polygon] = {}
    crops: list[_Crop] = []
    kinds: dict[str, str] = {}
    for i, (name, (crop, vertices)) in enumerate(_FIELDS.items()):
        poly = _polygon_m(vertices, origin, length)
        burned = rasterize([(poly, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8")
        cover[burned == 1] = _FIELD0 + i
        polygons[name] = poly
        crops.append(_jitter_crop(rng, _CROPS[crop]))
        kinds[name] = crop

    vigour = 1.0 + 0.035 * _smooth_noise(rng, shape, 12) + 0.02 * rng.standard_normal(shape)
    soil = 1.0 + 0.06 * _smooth_noise(rng, shape, 20)
    urban_mix = np.clip(0.65 + 0.35 * _smooth_noise(rng, shape, 2.5), 0.0, 1.0)
    land = _Landscape(shape, cover, crops, vigour, soil, urban_mix)
    return land, polygons, kinds


def _surface(land: _Landscape, doy: float, rng: np.random.Generator) -> np.ndarray:
    """Clear-sky TOA reflectance, shape (13, h, w)."""
    spec = {k: np.asarray(v)[:, None, None] for k, v in SPECTRA.items()}
    h, w = land.shape
    green = np.zeros((h, w))
    dry = np.zeros((h, w))
    g_grass, _ = _CROPS["grassland"].fractions(doy)
    green[land.cover == _GRASS] = g_grass * 0.95
    fallow_green = 0.05 + 0.25 * _sig((doy - 120) / 15) * (1 - _sig((doy - 260) / 15))
    green[land.cover == _FALLOW] = fallow_green
    for i, crop in enumerate(land.crops):
        g, d = crop.fractions(doy)
        sel = land.cover == _FIELD0 + i
        green[sel] = g
        dry[sel] = d
    green = np.clip(green * land.vigour, 0.0, 1.0)
    dry = np.clip(dry, 0.0, 1.0 - green)
    bare = 1.0 - green - dry
    out: np.ndarray = green * spec["vegetation"] + dry * spec["residue"] + bare * spec["soil"] * land.soil_brightness

    forest = land.cover == _FOREST
    leaf = 0.93 + 0.10 * _sig((doy - 120) / 20) * (1 - _sig((doy - 290) / 15))  # mixed forest
    out[:, forest] = spec["forest"][:, :, 0] * (leaf * land.vigour[forest])[None, :]
    water = land.cover == _WATER
    out[:, water] = spec["water"][:, :, 0]
    urban = land.cover == _URBAN
    m = land.urban_mix[urban]
    garden = g_grass * spec["vegetation"][:, :, 0] + (1 - g_grass) * spec["soil"][:, :, 0]
    out[:, urban] = m * spec["urban"][:, :, 0] + (1 - m) * garden
    # per-date atmosphere: aerosol path radiance and water vapour (B09)
    out += float(rng.uniform(-0.2, 0.6)) * _AEROSOL[:, None, None]
    out[_IDX["B09"]] *= float(rng.uniform(0.85, 1.15))
    out[_IDX["B10"]] = 0.0011 + 0.0002 * rng.standard_normal((h, w))
    return out


def _add_weather(
    toa: np.ndarray, kind: str, rng: np.random.Generator, size_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """Apply weather in place; return (toa, cloud opacity) at 10 m."""
    _, h, w = toa.shape
    cloud = np.asarray(SPECTRA["cloud"])[:, None, None]
    alpha = np.zeros((h, w))
    if kind == "overcast":
        alpha = np.clip(0.97 + 0.03 * _smooth_noise(rng, (h, w), 8), 0.92, 1.0)
        brightness = 0.44 + 0.08 * _smooth_noise(rng, (h, w), 25)
        brightness = np.clip(brightness + 0.02 * _smooth_noise(rng, (h, w), 4), 0.36, 0.60)
        layer = cloud * brightness
        layer[_IDX["B10"]] = np.clip(0.03 + 0.006 * _smooth_noise(rng, (h, w), 20), 0.02, 0.045)
        toa[:] = (1 - alpha) * toa + alpha * layer
    elif kind == "cumulus":
        n = int(rng.integers(4, 10))
        centres = rng.uniform(-0.05, 1.05, (n, 2)) * np.array([h, w])
        radii = rng.uniform(0.03, 0.09, n) * size_px + 2.0
        field_ = _blobs(centres, radii, (h, w)) * (1 + 0.25 * _smooth_noise(rng, (h, w), 3))
        alpha = np.clip(2.2 * field_ - 0.6, 0.0, 1.0)
        # shadows: the same blobs displaced away from the sun (to the north-west)
        shift = np.array([-0.12, -0.08]) * size_px
        shadow = np.clip(2.2 * _blobs(centres + shift, radii, (h, w)) - 0.6, 0.0, 1.0) * (1 - alpha)
        toa[: _IDX["B10"]] *= 1 - 0.55 * shadow
        toa[_IDX["B11"]:] *= 1 - 0.55 * shadow
        brightness = np.clip(0.52 + 0.06 * _smooth_noise(rng, (h, w), 10), 0.42, 0.65)
        layer = cloud * brightness
        layer[_IDX["B10"]] = 0.003 + 0.002 * alpha  # low cloud: little cirrus signal
        toa[:] = (1 - alpha) * toa + alpha * layer
    elif kind == "cirrus":
        thickness = np.clip(0.55 + 0.3 * _smooth_noise(rng, (h, w), 30), 0.05, 1.0)
        b10 = 0.008 + 0.032 * thickness  # 0.01 .. 0.04
        toa += _CIRRUS_GAIN[:, None, None] * (0.55 * b10)
        toa[_IDX["B10"]] = b10
        alpha = np.zeros((h, w))
    elif kind != "clear":
        raise InvalidInput(f"unknown weather kind {kind!r}; use one of {WEATHER_KINDS}")
    return toa, alpha


def _weather_schedule(rng: np.random.Generator, dates: list[_dt.date]) -> list[str]:
    """Random weather per date, seasonal odds; guarantees clear winter/summer and an overcast date."""
    kinds: list[str] = []
    for d in dates:
        winter = 0.5 * (1 + math.cos(2 * math.pi * (d.timetuple().tm_yday - 15) / 365.25))
        p = np.array([0.42 - 0.10 * winter, 0.12 + 0.22 * winter, 0.28 - 0.12 * winter, 0.18])
        kinds.append(WEATHER_KINDS[int(rng.choice(4, p=p / p.sum()))])
    if len(dates) < 3:
        return kinds
    forced: set[int] = set()

    def force(months: tuple[int, ...], target_doy: int) -> None:
        idx = [i for i, d in enumerate(dates) if d.month in months]
        if idx and not any(kinds[i] == "clear" for i in idx):
            best = min(idx, key=lambda i: abs(dates[i].timetuple().tm_yday - target_doy))
            kinds[best] = "clear"
        forced.update(i for i in idx if kinds[i] == "clear")

    force((6, 7, 8), 215)
    force((12, 1, 2), 15)
    if "overcast" not in kinds:
        free = [i for i in range(len(dates)) if i not in forced] or list(range(len(dates)))
        kinds[free[int(rng.integers(len(free)))]] = "overcast"
    return kinds


# --------------------------------------------------------------------------- public entry


def _lonlat(geom: Any, crs: str) -> Any:
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return shapely_transform(geom, to_ll.transform, interleaved=False)  # type: ignore[arg-type]  # stubs: interleaved only


def build_demo_archive(
    out_dir: Path,
    *,
    year: int = 2023,
    revisit_days: int = 5,
    size_px: int = 200,
    tiles: int = 2,
    seed: int = 0,
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (500000.0, 5100000.0),
    progress: Callable[[int, int], None] | None = None,
) -> DemoArchive:
    """Render a one-year demo archive into ``out_dir`` and return what was written.

    The area is ``size_px`` x ``size_px`` pixels of 10 m with its upper-left corner at
    ``origin`` in ``crs``; bands are stored at native 10/20/60 m (the 20/60 m grids start at
    the same corner and round the extent up to whole pixels). Dates are 1 January of ``year``
    plus multiples of ``revisit_days``; every date is written as ``tiles`` overlapping scenes.
    Deterministic for a given ``seed``. ``progress(done, total)`` is called per written scene.
    """
    if not 1 <= tiles <= len(_MGRS_TILES):
        raise InvalidInput(f"tiles must be 1..{len(_MGRS_TILES)}, got {tiles}", field="tiles")
    if size_px < 30:
        raise InvalidInput(f"size_px must be at least 30 (300 m), got {size_px}", field="size_px")
    if revisit_days < 1:
        raise InvalidInput(f"revisit_days must be >= 1, got {revisit_days}", field="revisit_days")
    try:
        projected = CRS.from_user_input(crs)
    except CRSError as exc:
        raise InvalidCRS(f"unknown CRS {crs!r}: {exc}", field="crs") from None
    if not projected.is_projected or projected.axis_info[0].unit_name not in ("metre", "meter"):
        raise InvalidCRS(f"the demo grid needs a projected CRS in metres (e.g. a UTM zone), got {crs!r}", field="crs")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    canvas = math.ceil(size_px / 6) * 6  # whole 60 m pixels
    transform = Affine(BASE_RESOLUTION, 0, origin[0], 0, -BASE_RESOLUTION, origin[1])
    land, polygons, kinds = _build_landscape(rng, canvas, size_px, transform, origin)

    # tile column ranges at 10 m, starting on 60 m boundaries; neighbours overlap by ~20%
    width = (1 + 0.2 * (tiles - 1)) / tiles
    spans: list[tuple[int, int]] = []
    for i in range(tiles):
        c0 = 6 * round(i * (width - 0.2) * size_px / 6) if i else 0
        c1 = size_px if i == tiles - 1 else 6 * round((i * (width - 0.2) + width) * size_px / 6)
        spans.append((c0, c1))

    start = _dt.date(year, 1, 1)
    dates = []
    d = start
    while d.year == year:
        dates.append(d)
        d += _dt.timedelta(days=revisit_days)
    weather = _weather_schedule(rng, dates)
    total = len(dates) * tiles
    if progress is not None:
        progress(0, total)

    items: list[Path] = []
    for k, (date, kind) in enumerate(zip(dates, weather, strict=True)):
        doy = date.timetuple().tm_yday
        toa = _surface(land, doy, rng)
        toa, alpha = _add_weather(toa, kind, rng, size_px)
        native: dict[str, np.ndarray] = {}
        for b, band in enumerate(BANDS):
            arr = _block_mean(toa[b], NATIVE_RESOLUTION[band] // int(BASE_RESOLUTION))
            noise = 0.0008 + 0.005 * arr if band != "B10" else 0.0001
            native[band] = arr + noise * rng.standard_normal(arr.shape)
        letter = "A" if k % 2 == 0 else "B"  # Sentinel-2A and 2B alternate
        for t, (c0, c1) in enumerate(spans):
            tile = _MGRS_TILES[t]
            bands: dict[str, BandRaster] = {}
            for band in BANDS:
                res = NATIVE_RESOLUTION[band]
                f = res // int(BASE_RESOLUTION)
                r1, a0, a1 = -(-size_px // f), c0 // f, -(-c1 // f)
                dn = reflectance_to_dn(native[band][:r1, a0:a1], processing_baseline=DEMO_BASELINE)
                bands[band] = BandRaster(dn, Affine(res, 0, origin[0] + a0 * res, 0, -res, origin[1]))
            cloudy = alpha[:size_px, c0:c1] > 0.5
            extra = {
                "eo:cloud_cover": 100.0 if kind == "cirrus" else round(100.0 * float(cloudy.mean()), 2),
                "fis:demo_weather": kind,
            }
            # tiles of one datatake are sensed a few seconds apart: same date, not the same instant
            when = _dt.datetime(date.year, date.month, date.day, 10, 5, 21 + 3 * t, tzinfo=_dt.UTC)
            items.append(write_stac_scene(
                out_dir, f"S2{letter}_MSIL1C_{date:%Y%m%d}_T{tile}", when, bands, crs=crs,
                processing_baseline=DEMO_BASELINE, platform=f"sentinel-2{letter.lower()}", mgrs_tile=tile,
                extra_properties=extra,
            ))
            if progress is not None:
                progress(len(items), total)

    area = segmentize(box(origin[0], origin[1] - size_px * BASE_RESOLUTION,
                          origin[0] + size_px * BASE_RESOLUTION, origin[1]), size_px * BASE_RESOLUTION / 8)
    west, south, east, north = _lonlat(area, crs).bounds
    fields: dict[str, dict[str, Any]] = {}
    features = []
    for name, poly in polygons.items():
        inset = poly.buffer(-_FIELD_INSET_M, join_style="mitre")
        geom = mapping(_lonlat(inset, crs))
        geom = {"type": "Polygon", "coordinates": [[[round(x, 9), round(y, 9)] for x, y in ring]
                                                   for ring in geom["coordinates"]]}
        fields[name] = geom
        features.append({"type": "Feature", "properties": {"name": name, "crop": kinds[name],
                                                           "area_ha": round(inset.area / 1e4, 2)},
                         "geometry": geom})
    (out_dir / "fields.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, indent=1) + "\n", encoding="utf-8"
    )
    return DemoArchive(
        root=out_dir,
        items=items,
        fields=fields,
        bbox=(west, south, east, north),
        weather=dict(zip(dates, weather, strict=True)),
    )
