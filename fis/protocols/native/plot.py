"""The seed's figure as a PNG: a field's NDVI profile with all dates, and with the cloudy dates masked.

Drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global state), so requests
can draw in parallel threads.
"""

from __future__ import annotations

import datetime
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from fis.core.observation import Observation

#: Defaults of the figure's size (pixels) and resolution.
DEFAULT_WIDTH = 1200
DEFAULT_HEIGHT = 800
DEFAULT_DPI = 100

_LINE = "#1b7837"
_BAND = "#a6dba0"
_CLOUDY = "#d6604d"


@dataclass(frozen=True)
class Thresholds:
    """The cloud rule the figure marks (None = that measure is not used)."""

    max_cloud_fraction: float | None
    max_cloud_probability: float | None

    def caption(self, cloudy: int, total: int) -> str:
        """What is called cloudy, in words, with how many dates it applies to."""
        rules = []
        if self.max_cloud_fraction is not None:
            rules.append(f"cloud_fraction > {self.max_cloud_fraction:g}")
        if self.max_cloud_probability is not None:
            rules.append(f"cloud_probability > {self.max_cloud_probability:g}")
        if not rules:
            return f"No cloud threshold: none of the {total} dates is marked cloudy."
        return f"Cloudy (x): {' or '.join(rules)}: {cloudy} of {total} dates."


def profile_png(
    pairs: Sequence[tuple[Observation, bool]],
    thresholds: Thresholds,
    *,
    title: str,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    dpi: int = DEFAULT_DPI,
) -> bytes:
    """The PNG (exactly ``width`` x ``height`` pixels) of (observation, cloudy) pairs, dates ascending."""
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, sharey=True)
    dates = [o.date for o, _ in pairs]
    cloudy = [c for _, c in pairs]
    _panel(top, dates, [o for o, _ in pairs], cloudy, masked=False)
    _panel(bottom, dates, [o for o, _ in pairs], cloudy, masked=True)
    top.set_title("All dates", loc="left", fontsize="medium")
    bottom.set_title("Cloudy dates masked", loc="left", fontsize="medium")
    if dates:
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    figure.suptitle(title)
    figure.supxlabel(thresholds.caption(sum(cloudy), len(pairs)), fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _panel(
    axes: Axes, dates: list[datetime.date], observations: list[Observation], cloudy: list[bool], *, masked: bool
) -> None:
    """NDVI mean with its p10-p90 band; cloudy dates as crosses (in the masked panel left out of the line)."""
    axes.set_ylabel("NDVI")
    axes.grid(True, alpha=0.3)
    if not observations:
        axes.text(0.5, 0.5, "no observations", transform=axes.transAxes, ha="center", va="center")
        return
    days = np.array(dates, dtype="datetime64[D]")
    mean, low, high = (np.array([_value(o, s) for o in observations]) for s in ("mean", "p10", "p90"))
    marked = np.array(cloudy, dtype=bool)
    keep = ~marked if masked else np.ones_like(marked)
    axes.fill_between(days[keep], low[keep], high[keep], color=_BAND, alpha=0.6, linewidth=0, label="p10-p90")
    axes.plot(days[keep], mean[keep], color=_LINE, marker="o", markersize=3, linewidth=1.2, label="mean")
    if marked.any():
        axes.plot(
            days[marked], mean[marked], linestyle="none", marker="x", markersize=6, color=_CLOUDY,
            alpha=0.5 if masked else 1.0, label="cloudy (masked)" if masked else "cloudy",
        )
    axes.legend(loc="best", fontsize="small")


def _value(observation: Observation, statistic: str) -> float:
    """An NDVI statistic, NaN when the date has none (no valid pixel): a gap in the line."""
    value = observation.ndvi.get(statistic)
    return math.nan if value is None else float(value)
