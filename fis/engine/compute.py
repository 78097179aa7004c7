"""A series with the statistics options: clear-pixel statistics, indices, percentiles,
histograms and temporal aggregation, computed on the engine's stream of dates.

A request without ``aggregation`` goes straight to :meth:`fis.engine.engine.Engine.compute`,
which reduces each date with the request's :class:`~fis.engine.reductions.StatisticsOptions`. With
``aggregation`` the engine's stream of dates (:meth:`~fis.engine.engine.Engine.iter_dates`) is
pooled, picked or composited per interval (:mod:`fis.core.aggregation`, :mod:`fis.engine.reductions`).
Only one interval's pixels are held at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from fis.core.aggregation import Aggregation, Interval, covered_range, intervals
from fis.core.scenes import SceneRecord
from fis.engine.clouds import CloudModel
from fis.core.observation import ObservationError, SeriesResult
from fis.engine.reductions import (
    ClearComposite,
    DatePixels,
    Sample,
    StatisticsOptions,
    date_sample,
    pool,
    reduce_sample,
)
from fis.core.request import TimeseriesRequest
from fis.engine.engine import Engine, Progress, ReducedDate, predict_vectors, series_result

__all__ = ["compute_series"]


def compute_series(
    engine: Engine, request: TimeseriesRequest, scenes: Sequence[SceneRecord], *, progress: Progress | None = None
) -> SeriesResult:
    """The request's series: one observation per date, or one row per aggregation interval."""
    if request.aggregation is None:
        return engine.compute(request, scenes, progress=progress)
    return _aggregated(engine, request, request.aggregation, scenes, progress)



def _aggregated(
    engine: Engine,
    request: TimeseriesRequest,
    aggregation: Aggregation,
    scenes: Sequence[SceneRecord],
    progress: Progress | None,
) -> SeriesResult:
    model = engine.model
    options = request.statistics
    spans = intervals(request.time_range, aggregation)
    # an extended last interval reads the scenes of its extra time too
    reading = dataclasses.replace(request, time_range=covered_range(request.time_range, aggregation))
    bucket = _Bucket(model, options, aggregation.pick)
    rows: list[ReducedDate] = []
    errors: list[ObservationError] = []
    warnings: list[str] = []
    grid: dict[str, object] = {}
    k = 0
    for item in engine.iter_dates(reading, scenes, progress=progress):
        grid = item.layout.grid.to_dict()
        while k < len(spans) and item.datetime > spans[k].end:
            rows.append(bucket.close(spans[k]))
            k += 1
        if k >= len(spans) or item.datetime < spans[k].start:
            continue  # after a skipped last interval
        if isinstance(item.outcome, ObservationError):
            errors.append(item.outcome)
            continue
        warnings.extend(bucket.add(item.date, item.datetime, item.scenes, item.outcome))
    while k < len(spans):
        rows.append(bucket.close(spans[k]))
        k += 1
    return series_result(model, rows, errors, grid, tuple(warnings))


class _Bucket:
    """The dates of the interval being filled, reduced the way ``pick`` says when it closes."""

    def __init__(self, model: CloudModel, options: StatisticsOptions, pick: str):
        self.model = model
        self.options = options
        self.pick = pick
        self._reset()

    def _reset(self) -> None:
        self.dates: list[tuple[dt.date, dt.datetime, tuple[str, ...]]] = []
        self.samples: list[Sample] = []
        self.composite = ClearComposite(
            model_bands=self.model.input_bands, model_level=self.model.manifest.product_level, options=self.options
        )

    def add(self, date: dt.date, when: dt.datetime, scenes: tuple[str, ...], pixels: DatePixels) -> list[str]:
        """Take one date in; returns its warnings (prefixed with the date)."""
        if self.pick == "clear_mean":
            sample = self.composite.add(pixels)  # counts only; the composite keeps per-pixel sums
            used = bool(sample.clear)
        else:
            sample = date_sample(
                pixels, model_bands=self.model.input_bands, model_level=self.model.manifest.product_level,
                options=self.options,
            )
            used = True
        if used:
            self.dates.append((date, when, scenes))
            self.samples.append(sample)
        return [f"{date.isoformat()} ({', '.join(scenes)}): {w}" for w in sample.warnings]

    def close(self, interval: Interval) -> ReducedDate:
        """The row of ``interval`` from the dates added since the last close."""
        dates, samples = self.dates, self.samples
        composite = self.composite.sample() if self.pick == "clear_mean" else None
        self._reset()
        if self.pick == "least_cloudy" and samples:
            best = _least_cloudy(self.model, samples, self.options)
            dates, samples = [dates[best]], [samples[best]]
        if self.pick == "clear_mean":
            sample = composite if composite is not None else _empty_sample(self.options)
        else:
            sample = pool([dataclasses.replace(s, warnings=()) for s in samples]) if samples else _empty_sample(self.options)
        reduction = reduce_sample(dataclasses.replace(sample, warnings=()), self.options)
        used = [d.isoformat() for d, _, _ in dates]
        return ReducedDate(
            date=interval.start.date(),
            datetime=interval.start,
            scenes=tuple(s for _, _, ids in dates for s in ids),
            reduction=reduction,
            interval={**interval.to_dict(), "observations": used},
        )


def _least_cloudy(model: CloudModel, samples: list[Sample], options: StatisticsOptions) -> int:
    """Index of the date with the smallest cloud_fraction (then cloud_probability, then the earliest).

    A date without valid pixels comes last; an unknown measure ranks after any known one.
    """
    reductions = [reduce_sample(s, StatisticsOptions(mask_clouds=options.mask_clouds)) for s in samples]
    probabilities = predict_vectors(model, [r.model_vector for r in reductions])

    def key(i: int) -> tuple[object, ...]:
        r, p = reductions[i], probabilities[i]
        return (
            r.pixels.valid == 0,
            r.cloud_fraction is None, r.cloud_fraction or 0.0,
            p is None, p or 0.0,
            i,
        )

    return min(range(len(samples)), key=key)


def _empty_sample(options: StatisticsOptions) -> Sample:
    return Sample(
        total=0, valid=0, cloudy=0, shadow=None, clear=0 if options.mask_clouds else None, masked_valid=0,
        band_values={}, variables={name: None for name in options.variables}, model_sum=None, model_count=0,
        cloud_source=None,
    )
