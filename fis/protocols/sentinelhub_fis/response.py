"""FIS responses: one date's statistics per channel, the response body, and the OGC exception report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from fis.engine.reductions import DatePixels
from fis.protocols.sentinelhub_fis.histograms import DEFAULT_HISTOGRAM, HISTOGRAMS
from fis.protocols.sentinelhub_fis.layers import cloud_fraction, layer_channels
from fis.protocols.sentinelhub_fis.parameters import FisParameters

OGC_NAMESPACE: Final = "http://www.opengis.net/ogc"


def channel_statistics(
    values: np.ndarray, *, bins: int | None = None, histogram: str = DEFAULT_HISTOGRAM
) -> dict[str, Any]:
    """``{"basicStats": {...}, "histogram": {"bins": [...]}}`` of a non-empty 1-D array.

    ``min``/``max`` are the (float32) values themselves; ``mean`` and ``stDev`` (population)
    are float64. ``histogram`` is only present when ``bins`` is given.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("channel_statistics needs at least one value")
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        mean, std = lo, 0.0
    else:
        mean = float(v.mean())
        std = float(np.sqrt(np.mean((v - mean) ** 2)))
    out: dict[str, Any] = {"basicStats": {"min": lo, "max": hi, "mean": mean, "stDev": std}}
    if bins is not None:
        out["histogram"] = {"bins": HISTOGRAMS[histogram](v, bins)}
    return out


@dataclass(frozen=True)
class FisDate:
    """One date of a FIS response: per channel its statistics (or why it was left out)."""

    date: str
    channels: tuple[dict[str, Any], ...] = ()
    #: why the date is not in the response: "maxcc", "no valid pixels", or a read error
    omitted: str | None = None


def date_statistics(params: FisParameters, date: str, pixels: DatePixels) -> FisDate:
    """Apply MAXCC, then compute every channel's statistics of one date."""
    if params.maxcc < 100.0:
        fraction = cloud_fraction(pixels)
        if fraction is None:
            return FisDate(date, omitted="maxcc (cloud fraction unknown)")
        if fraction * 100.0 > params.maxcc:
            return FisDate(date, omitted="maxcc")
    channels = layer_channels(params.layer, pixels)
    if channels[-1].size == 0:
        return FisDate(date, omitted="no valid pixels")
    return FisDate(
        date, tuple(channel_statistics(c, bins=params.bins, histogram=params.histogram) for c in channels)
    )


def fis_response(params: FisParameters, dates: Sequence[FisDate]) -> dict[str, list[dict[str, Any]]]:
    """``{"C0": [...], ...}``: one entry per kept date, newest first; keys in channel order."""
    kept = sorted((d for d in dates if d.omitted is None), key=lambda d: d.date, reverse=True)
    body: dict[str, list[dict[str, Any]]] = {}
    for i in range(len(params.layer.channels) + 1):
        body[f"C{i}"] = [{"date": d.date, **d.channels[i]} for d in kept]
    return body


def exception_report(message: str, *, code: str, locator: str | None = None) -> str:
    """An OGC (WMS 1.3.0 style) ``ServiceExceptionReport`` with one ``ServiceException``."""
    root = ET.Element("ServiceExceptionReport", {"version": "1.3.0", "xmlns": OGC_NAMESPACE})
    attributes = {"code": code}
    if locator:
        attributes["locator"] = locator
    exc = ET.SubElement(root, "ServiceException", attributes)
    exc.text = message
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
