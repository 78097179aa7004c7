"""What an evalscript's ``setup()`` declares, and the rules applied to what ``evaluatePixel`` returns.

Pure Python and numpy (no V8): :func:`parse_setup` checks the object ``setup()`` returned and makes a
:class:`ScriptSetup`; :func:`apply_sample_type` rounds and clamps an output as its ``sampleType``
says; :func:`validity_masks` applies the Statistical API's ``dataMask`` output rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from fis.engine.evalscript.errors import EvalscriptError

#: Input bands an evalscript may request (Sentinel-2 L1C/L2A; which exist depends on the collection).
_SPECTRAL = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
KNOWN_BANDS: frozenset[str] = frozenset((*_SPECTRAL, "CLM", "CLP", "SCL", "dataMask"))
UNITS: tuple[str, ...] = ("REFLECTANCE", "DN")
MOSAICKING: tuple[str, ...] = ("SIMPLE", "ORBIT", "TILE")
#: sampleType -> (low, high) clamp range of the integer types; None for FLOAT32. AUTO is 0..1 stretched to UINT8.
SAMPLE_TYPES: dict[str, tuple[float, float] | None] = {
    "AUTO": (0.0, 255.0),
    "UINT8": (0.0, 255.0),
    "UINT16": (0.0, 65535.0),
    "INT8": (-128.0, 127.0),
    "INT16": (-32768.0, 32767.0),
    "FLOAT32": None,
}
DATA_MASK = "dataMask"
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_MAX_BANDS = 64


@dataclass(frozen=True)
class OutputSpec:
    """One ``output`` of ``setup()``: its id, band count, band names (when given as a list) and sample type."""

    id: str
    bands: int
    band_names: tuple[str, ...] | None = None
    sample_type: str = "FLOAT32"

    @property
    def names(self) -> tuple[str, ...]:
        """The band names: the ones ``setup()`` gave, else Sentinel Hub's ``B0``, ``B1``, ..."""
        return self.band_names if self.band_names is not None else tuple(f"B{i}" for i in range(self.bands))


@dataclass(frozen=True)
class ScriptSetup:
    """The checked result of ``setup()``.

    ``inputs`` are the requested band names in order (duplicates removed); ``units`` is the one unit of
    the reflectance bands (``REFLECTANCE`` by default; mixed units are refused); ``CLM``, ``CLP``,
    ``SCL`` and ``dataMask`` are unitless whatever ``units`` says.
    """

    inputs: tuple[str, ...]
    units: str
    outputs: tuple[OutputSpec, ...]
    mosaicking: str = "SIMPLE"

    def output(self, output_id: str) -> OutputSpec:
        """The output named ``output_id`` (KeyError when there is none)."""
        for spec in self.outputs:
            if spec.id == output_id:
                return spec
        raise KeyError(output_id)

    @property
    def has_data_mask(self) -> bool:
        """Whether a ``dataMask`` output is declared (the Statistical API requires one)."""
        return any(spec.id == DATA_MASK for spec in self.outputs)


@dataclass(frozen=True)
class EvaluatedPixels:
    """What an evaluation gives: per output id an ``(n, bands)`` float64 array after ``sampleType``
    rounding and clamping, and an ``(n,)`` bool array of the pixels that count (the ``dataMask`` rule)."""

    values: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]


def _fail(message: str) -> EvalscriptError:
    return EvalscriptError(message, field="evalscript")


def _input_bands(raw: Any) -> tuple[list[str], list[str]]:
    """Band names and the units named for them, from ``setup().input``."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _fail('setup() must return "input": a list of band names or of {"bands": [...], "units": ...} objects')
    bands: list[str] = []
    units: list[str] = []
    if all(isinstance(item, str) for item in raw):
        return list(raw), []
    for item in raw:
        if not isinstance(item, dict):
            raise _fail('setup().input must be a list of band names or a list of {"bands": [...]} objects, not a mix')
        if "datasource" in item:
            raise _fail("setup().input[].datasource (data fusion) is not supported: use one collection")
        item_bands = item.get("bands")
        if not isinstance(item_bands, list) or not item_bands or not all(isinstance(b, str) for b in item_bands):
            raise _fail('setup().input[].bands must be a non-empty list of band names, e.g. ["B04", "B08", "dataMask"]')
        bands.extend(item_bands)
        item_units = item.get("units")
        if item_units is None:
            continue
        if isinstance(item_units, str):
            units.append(item_units)
        elif isinstance(item_units, list) and all(isinstance(u, str) for u in item_units):
            if len(item_units) != len(item_bands):
                raise _fail("setup().input[].units as a list must name one unit per band")
            units.extend(u for u, b in zip(item_units, item_bands, strict=True) if b not in _UNITLESS)
        else:
            raise _fail('setup().input[].units must be "REFLECTANCE" or "DN" (or one of them per band)')
    return bands, units


_UNITLESS = frozenset(["CLM", "CLP", "SCL", DATA_MASK])


def _units(named: list[str]) -> str:
    normal = {u.upper() for u in named}
    unknown = sorted(normal - set(UNITS))
    if unknown:
        raise _fail(f"setup().input units {unknown[0]!r} is not supported: use REFLECTANCE or DN")
    if len(normal) > 1:
        raise _fail("setup().input mixes REFLECTANCE and DN: use one unit for all bands")
    return normal.pop() if normal else "REFLECTANCE"


def _output(raw: Any, position: int) -> OutputSpec:
    if not isinstance(raw, dict):
        raise _fail(f"setup().output[{position}] must be an object such as {{id: 'ndvi', bands: 1}}")
    output_id = raw.get("id", "default")
    if not isinstance(output_id, str) or not _ID.match(output_id):
        raise _fail(f"setup().output[{position}].id must be 1-64 letters, digits, '_', '-' or '.', got {output_id!r}")
    bands = raw.get("bands", 1)
    names: tuple[str, ...] | None = None
    if isinstance(bands, list):
        if not bands or not all(isinstance(b, str) and _ID.match(b) for b in bands):
            raise _fail(f"setup().output[{position}].bands as a list must hold band names (letters, digits, '_')")
        if len(set(bands)) != len(bands):
            raise _fail(f"setup().output[{position}].bands names a band twice")
        names = tuple(bands)
        count = len(bands)
    elif isinstance(bands, int | float) and not isinstance(bands, bool) and float(bands).is_integer():
        count = int(bands)
    else:
        raise _fail(f"setup().output[{position}].bands must be a number of bands or a list of band names")
    if not 1 <= count <= _MAX_BANDS:
        raise _fail(f"setup().output[{position}].bands must be between 1 and {_MAX_BANDS}, got {count}")
    sample_type = raw.get("sampleType", "FLOAT32")
    if not isinstance(sample_type, str) or sample_type.upper() not in SAMPLE_TYPES:
        raise _fail(
            f"setup().output[{position}].sampleType must be one of {', '.join(SAMPLE_TYPES)}, got {sample_type!r}"
        )
    return OutputSpec(id=output_id, bands=count, band_names=names, sample_type=sample_type.upper())


def parse_setup(raw: Any) -> ScriptSetup:
    """Check the object ``setup()`` returned (as JSON data) and make a :class:`ScriptSetup`."""
    if not isinstance(raw, dict):
        raise _fail("setup() must return an object with input and output")
    bands, named_units = _input_bands(raw.get("input"))
    unknown = [b for b in bands if b not in KNOWN_BANDS]
    if unknown:
        raise _fail(
            f"setup().input band {unknown[0]!r} is not available: use B01..B12, B8A, CLM, CLP, SCL (L2A) or dataMask"
        )
    inputs = tuple(dict.fromkeys(bands))
    raw_outputs = raw.get("output")
    if isinstance(raw_outputs, dict):
        raw_outputs = [raw_outputs]
    if not isinstance(raw_outputs, list) or not raw_outputs:
        raise _fail("setup() must return output: an object or a list of objects with id and bands")
    outputs = tuple(_output(item, i) for i, item in enumerate(raw_outputs))
    ids = [o.id for o in outputs]
    if len(set(ids)) != len(ids):
        raise _fail(f"setup().output ids must be unique: {sorted({i for i in ids if ids.count(i) > 1})[0]!r} repeats")
    _check_data_mask(outputs)
    mosaicking = raw.get("mosaicking", "SIMPLE")
    if not isinstance(mosaicking, str) or mosaicking.upper() not in MOSAICKING:
        raise _fail(f"setup().mosaicking must be SIMPLE, ORBIT or TILE, got {mosaicking!r}")
    return ScriptSetup(inputs=inputs, units=_units(named_units), outputs=outputs, mosaicking=mosaicking.upper())


def _check_data_mask(outputs: tuple[OutputSpec, ...]) -> None:
    mask = next((o for o in outputs if o.id == DATA_MASK), None)
    if mask is None or mask.bands == 1 or _per_output(mask, outputs):
        return
    others = {o.id for o in outputs if o.id != DATA_MASK}
    raise _fail(
        "a dataMask output with several bands masks each output separately: name its bands after the "
        f"outputs they mask, e.g. bands: {sorted(others)!r}"
    )


def _per_output(mask: OutputSpec, outputs: tuple[OutputSpec, ...]) -> bool:
    """Whether the dataMask output's bands are named after outputs (one mask per output)."""
    others = {o.id for o in outputs if o.id != DATA_MASK}
    return mask.band_names is not None and set(mask.band_names) <= others


def apply_sample_type(values: np.ndarray, sample_type: str) -> np.ndarray:
    """Round and clamp like the output format would: FLOAT32 keeps float32 precision (NaN and infinities
    stay); integer types round half up and clamp to their range, NaN becoming 0; AUTO maps 0..1 to 0..255."""
    limits = SAMPLE_TYPES[sample_type]
    if limits is None:
        return values.astype(np.float32).astype(np.float64)
    scaled = values * 255.0 if sample_type == "AUTO" else values
    with np.errstate(invalid="ignore"):
        rounded = np.floor(scaled + 0.5)
    clamped: np.ndarray = np.nan_to_num(np.clip(rounded, limits[0], limits[1]), nan=0.0)
    return clamped


def validity_masks(setup: ScriptSetup, values: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The pixels that count, per output, by the Statistical API's ``dataMask`` output rule.

    A one-band ``dataMask`` output masks every output (a pixel counts where it is not 0); a ``dataMask``
    output whose bands are named after outputs masks each named output with its own band (outputs it
    does not name are not masked). Without a ``dataMask`` output every pixel counts.
    """
    everywhere = np.ones(n, dtype=bool)
    mask = values.get(DATA_MASK)
    if mask is None:
        return {o.id: everywhere for o in setup.outputs}
    spec = setup.output(DATA_MASK)
    counts = (mask != 0) & ~np.isnan(mask)
    per_output = _per_output(spec, setup.outputs)
    result: dict[str, np.ndarray] = {DATA_MASK: counts[:, 0]}
    for output in setup.outputs:
        if output.id == DATA_MASK:
            continue
        if per_output:
            named = spec.band_names is not None and output.id in spec.band_names
            result[output.id] = counts[:, spec.names.index(output.id)] if named else everywhere
        else:
            result[output.id] = counts[:, 0]
    return result
