"""The series orchestrator: scenes + request -> one observation per acquisition date, or one row
per aggregation interval.

Per request the layout (grid, the polygon's pixels, the cloud-cell lookup; :mod:`fis.engine.layout`)
is computed once; the dates are read concurrently on the engine's pool (tiles mosaicked and the cloud
mask sampled, :mod:`fis.engine.dates`) and streamed in order. :meth:`Engine.compute` reduces every date
with the request's statistics options (:func:`fis.engine.reductions.reduce_date`); with ``aggregation``
the dates of each interval are pooled, picked or composited instead. The cloud model then runs once on
all the rows' averaged band vectors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import rasterio

from fis.core.aggregation import Aggregation, Interval, covered_range, intervals
from fis.core.budget import RequestBudget, current_budget
from fis.core.observation import OUTPUTS, Observation, ObservationError, SeriesResult
from fis.core.options import StatisticsOptions
from fis.core.request import CloudMaskSettings, TimeseriesRequest
from fis.core.scenes import SceneRecord
from fis.core.timerange import TimeRange
from fis.engine.chunk import SharedFetch, union_grid, window_of
from fis.engine.clouds import CloudModel
from fis.engine.dates import SCL, DateReader, DirectFetch, Needs, needs_of
from fis.engine.grid import Grid
from fis.engine.layout import RequestLayout, request_layout
from fis.engine.phases import Observer, PhaseClock
from fis.engine.raster import DatasetCache
from fis.engine.reductions import (
    ClearComposite,
    DatePixels,
    DateReduction,
    Sample,
    date_sample,
    pool,
    reduce_date,
    reduce_sample,
)
from fis.engine.remote import RemotePolicy, is_remote
from fis.errors import FisError

Progress = Callable[[int, int], None]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class DateItem:
    """One acquisition date of a request: its scenes and either its pixels (reduced, when the stream
    was given a reducer) or why it failed."""

    date: dt.date
    datetime: dt.datetime
    scenes: tuple[str, ...]
    outcome: DatePixels | DateReduction | ObservationError
    layout: RequestLayout


@dataclass(frozen=True)
class ReducedDate:
    """One row of a series before the batched cloud-model call: a date (or an interval) reduced."""

    date: dt.date
    datetime: dt.datetime
    scenes: tuple[str, ...]
    reduction: DateReduction
    interval: dict[str, object] | None = None


def predict_vectors(model: CloudModel, vectors: list[np.ndarray | None]) -> list[float | None]:
    """P(cloud) of each averaged band vector in one model call (None stays None)."""
    rows = [v for v in vectors if v is not None]
    if not rows:
        return [None] * len(vectors)
    predicted = iter(model.predict(np.vstack(rows)).tolist())
    return [next(predicted) if v is not None else None for v in vectors]


def series_result(
    model: CloudModel,
    rows: list[ReducedDate],
    errors: list[ObservationError],
    grid: dict[str, Any],
    warnings: tuple[str, ...],
    outputs: tuple[str, ...] = OUTPUTS,
) -> SeriesResult:
    """Observations of reduced rows, with ``cloud_probability`` from one batched model call (when one of
    ``outputs``; the measures not in ``outputs`` are left empty)."""
    vectors = [r.reduction.model_vector if "cloud_probability" in outputs else None for r in rows]
    probabilities = predict_vectors(model, vectors)
    observations = tuple(
        Observation(
            date=r.date,
            datetime=r.datetime,
            scenes=r.scenes,
            ndvi=r.reduction.ndvi if "ndvi" in outputs else {},
            bands=r.reduction.bands if "bands" in outputs else {},
            cloud_probability=p,
            cloud_fraction=r.reduction.cloud_fraction if "cloud_fraction" in outputs else None,
            pixels=r.reduction.pixels,
            cloud_source=r.reduction.cloud_source,
            indices=r.reduction.indices,
            percentiles=r.reduction.percentiles,
            histograms=r.reduction.histograms,
            interval=r.interval,
            outputs=outputs,
        )
        for r, p in zip(rows, probabilities, strict=True)
    )
    return SeriesResult(observations=observations, errors=tuple(errors), model=model.name, grid=grid, warnings=warnings)


class Engine:
    """Computes series of observation records; holds the model, the open-dataset cache and the read pool."""

    def __init__(
        self,
        model: CloudModel,
        *,
        cache: DatasetCache | None = None,
        max_pixels: int = 4_000_000,
        chunk_pixels: int = 2_000_000,
        read_threads: int = 2,
        use_cloud_layers: bool = True,
        gdal_cachemax_mb: int | None = None,
        remote: RemotePolicy | None = None,
        on_phase: Observer | None = None,
    ):
        self.model = model
        #: times the phases (layout, read, cloud_model, reduce, store) for ``on_phase`` (the service's /metrics)
        self.phases = PhaseClock(on_phase)
        self.cache = cache or DatasetCache()
        self.max_pixels = max_pixels
        #: the largest union grid :meth:`compute_many` reads a date of a group on (bounds its memory)
        self.chunk_pixels = max(1, chunk_pixels)
        self.read_threads = max(1, read_threads)
        #: how files over HTTP(S)/S3 are read: a larger pool, GDAL's HTTP settings, retries
        self.remote = remote or RemotePolicy()
        #: reads one date's pixels; ``use_cloud_layers``: registered CLP/CLM layers matching a request's settings
        self.reader = DateReader(
            model, self.cache, use_cloud_layers=use_cloud_layers, remote=self.remote, phases=self.phases
        )
        cachemax = GDAL_CACHEMAX_MB if gdal_cachemax_mb is None else gdal_cachemax_mb
        # long-lived pools: their threads keep their GDAL environments between requests; requests with
        # remote files are read on the larger remote pool (latency-bound: threads wait on HTTP answers)
        self._pool = ThreadPoolExecutor(
            max_workers=self.read_threads,
            thread_name_prefix="fis-read",
            initializer=_enter_gdal_environment,
            initargs=({"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_CACHEMAX": cachemax},),
        )
        self.remote_threads = max(1, self.remote.threads)
        self._remote_pool = ThreadPoolExecutor(
            max_workers=self.remote_threads,
            thread_name_prefix="fis-remote-read",
            initializer=_enter_gdal_environment,
            initargs=({**self.remote.gdal_options(), "GDAL_CACHEMAX": cachemax},),
        )

    def compute(
        self, request: TimeseriesRequest, scenes: Sequence[SceneRecord], *, progress: Progress | None = None
    ) -> SeriesResult:
        """The request's series over ``scenes``: one observation per UTC date (ascending), or with the
        request's ``aggregation`` one row per interval.

        Each date is reduced with the request's statistics options (clear-pixel statistics, indices,
        percentiles, histograms): on the read threads when rows are dates, so only the small
        reductions wait in the queue; per interval (pooled, least cloudy or clear composite) when
        aggregating, holding one interval's pixels at a time.
        """
        series = _Series(self.model, request)
        for item in self.iter_dates(
            series.reading, scenes, progress=progress, reducer=series.reducer, pixel_probability=False
        ):
            series.add(item)
        current_budget().check_time("the cloud model")
        with self.phases("cloud_model"):
            return series.result()

    def compute_many(
        self,
        items: Sequence[tuple[TimeseriesRequest, Sequence[SceneRecord]]],
        *,
        progress: Progress | None = None,
    ) -> list[SeriesResult | FisError]:
        """Many requests that differ only in their geometry, sharing their reads: element i is what
        :meth:`compute` returns for ``items[i]`` (the same values), or the :class:`FisError` it raises.

        Each item is a request and the scenes a single request of it would get. Features whose
        grids are windows of one union grid (same scenes, CRS, pixel size and anchor) form a group;
        each date's bands are read once on the group's union grid (within ``chunk_pixels``) and
        every feature is cut out of it and reduced with its own options
        (:mod:`fis.engine.chunk`). ``progress(done, total)`` counts finished features.
        """
        results: list[SeriesResult | FisError | None] = [None] * len(items)
        members: list[_Member] = []
        remote_scene: dict[str, bool] = {}  # scene id -> has remote files (asked once per scene, not per feature)
        for index, (request, scenes) in enumerate(items):
            series = _Series(self.model, request)
            in_range = [s for s in scenes if series.reading.time_range.contains(s.datetime)]
            if not in_range:
                results[index] = series.result()
                continue
            for scene in in_range:
                if scene.id not in remote_scene:
                    remote_scene[scene.id] = any(is_remote(a.href) for a in scene.assets.values())
            remote = any(remote_scene[s.id] for s in in_range)
            try:
                layout = self._layout_for(series.reading, in_range, remote=remote)
            except FisError as exc:
                results[index] = exc
                continue
            members.append(_Member(index, series, in_range, layout, remote))
        done = len(items) - len(members)
        if progress and done:
            progress(done, len(items))
        for group in self._groups(members):
            for member, result in zip(group, self._compute_group(group), strict=True):
                results[member.index] = result
            done += len(group)
            if progress:
                progress(done, len(items))
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _layout_for(self, request: TimeseriesRequest, scenes: Sequence[SceneRecord], *, remote: bool) -> RequestLayout:
        if remote:
            with rasterio.Env(**self.remote.gdal_options()):  # the layout opens reference files
                return self.layout(request, scenes)
        return self.layout(request, scenes)

    def _groups(self, members: list[_Member]) -> list[list[_Member]]:
        """Members that can share reads (same scenes and reading options, grids on one union grid),
        split so that no group's union grid exceeds ``chunk_pixels``."""
        by_key: dict[tuple[object, ...], list[list[_Member]]] = defaultdict(list)
        for member in members:
            request = member.series.reading
            key = (
                tuple(sorted(s.id for s in member.scenes)), request.cloud_mask,
                needs_of(request, self.model.input_bands), member.layout.grid.resolution,
                member.layout.cloud_grid.resolution,
            )
            for group in by_key[key]:  # same alignment: one union grid
                if union_grid([group[0].layout.grid, member.layout.grid]) is not None:
                    group.append(member)
                    break
            else:
                by_key[key].append([member])
        out: list[list[_Member]] = []
        for groups in by_key.values():
            for group in groups:
                out.extend(_split(group, self.chunk_pixels))
        return out

    def _compute_group(self, group: list[_Member]) -> list[SeriesResult]:
        """The series of a group of members, each date read once on the union grids."""
        first = group[0]
        reading = first.series.reading
        mask = reading.cloud_mask
        needs = needs_of(reading, self.model.input_bands)
        field = union_grid([m.layout.grid for m in group])
        cloud = union_grid([m.layout.cloud_grid for m in group])
        assert field is not None and cloud is not None
        remote = first.remote
        pool, threads = (self._remote_pool, self.remote_threads) if remote else (self._pool, self.read_threads)
        by_date: dict[dt.date, list[SceneRecord]] = defaultdict(list)
        for scene in sorted(first.scenes, key=lambda s: (s.datetime, s.id)):
            by_date[scene.date].append(scene)

        def work(date: dt.date) -> list[DateItem]:
            scenes = by_date[date]
            ids = tuple(s.id for s in scenes)
            when = min(s.datetime for s in scenes)
            try:
                shared: list[DatePixels | None] = list(self._read_shared(mask, needs, group, scenes, field, cloud))
            except FisError:
                shared = [None] * len(group)  # each member reads on its own (and fails as it would alone)
            items = []
            for member, pixels in zip(group, shared, strict=True):
                try:
                    outcome: Any = pixels if pixels is not None else self.reader.read(
                        mask, member.layout, scenes, pixel_probability=False, needs=needs
                    )
                    if member.series.reducer is not None:
                        outcome = member.series.reducer(outcome)
                except FisError as exc:
                    outcome = ObservationError(date=date, scenes=ids, message=exc.message)
                items.append(DateItem(date=date, datetime=when, scenes=ids, outcome=outcome, layout=member.layout))
            return items

        for items in _bounded_map(pool, work, sorted(by_date), window=threads + 1):
            for member, item in zip(group, items, strict=True):
                member.series.add(item)
        return [m.series.result() for m in group]

    def _read_shared(
        self, mask: CloudMaskSettings, needs: Needs, group: list[_Member], scenes: list[SceneRecord], field: Grid,
        cloud: Grid,
    ) -> list[DatePixels]:
        """One date's pixels of every member: each band read once on the union grids, cut per member."""
        fetch = SharedFetch(DirectFetch(self.cache, self.remote), cloud)
        plans = [
            self.reader.plan(mask, m.layout, scenes, pixel_probability=False, needs=needs, fetch=fetch) for m in group
        ]
        first = plans[0]
        model_grids = [p.model_grid for p in plans if p.model_grid is not None]
        model = union_grid(model_grids) if model_grids else None
        for band in first.present:
            grids = [field] if band in first.on_field else []
            if model is not None and band in self.model.input_bands and not (grids and window_of(field, model)):
                grids.append(model)
            if grids:
                fetch.prefetch(scenes, band, grids)
        if first.source == "scl":
            fetch.prefetch(scenes, SCL, [field])
        if model is not None and model.size <= sum(g.size for g in model_grids):
            # the model once on the union of the members' model grids (each cell's probability is the model
            # on that cell's values alone), unless the union is mostly cells no member needs
            full = {b: fetch.mosaic(scenes, b, [model])[0] for b in self.model.input_bands}
            fetch.share_probability(model, self.reader.predict_grid(model, full))
        return [
            self.reader.read(mask, m.layout, scenes, pixel_probability=False, needs=needs, fetch=fetch, plan=p)
            for m, p in zip(group, plans, strict=True)
        ]

    def iter_dates(
        self,
        request: TimeseriesRequest,
        scenes: Sequence[SceneRecord],
        *,
        progress: Progress | None = None,
        reducer: Callable[[DatePixels], Any] | None = None,
        pixel_probability: bool = True,
    ) -> Iterator[DateItem]:
        """Stream one :class:`DateItem` per UTC date (ascending): its pixels, or its error.

        Dates are read concurrently on the engine's pool but yielded in order, so a caller
        holds at most a few dates' pixels at a time. With ``reducer`` the read thread applies
        it and the item's outcome is its result instead of the pixels. Without
        ``pixel_probability`` the pixels' ``probability`` may be None (no CLP layer is read).

        In a request's budget (:mod:`fis.core.budget`) more dates than it allows are refused before
        anything is read, and the deadline is checked before the layout and between dates.
        """
        scenes = [s for s in scenes if request.time_range.contains(s.datetime)]
        if not scenes:
            return
        by_date: dict[dt.date, list[SceneRecord]] = defaultdict(list)
        for scene in sorted(scenes, key=lambda s: (s.datetime, s.id)):
            by_date[scene.date].append(scene)
        dates = sorted(by_date)
        budget = current_budget()
        budget.check_dates(len(dates))
        budget.check_time("the layout", done=0, total=len(dates))
        remote = any(is_remote(a.href) for s in scenes for a in s.assets.values())
        if remote:
            with rasterio.Env(**self.remote.gdal_options()):  # the layout opens reference files
                layout = self.layout(request, scenes)
        else:
            layout = self.layout(request, scenes)
        pool, threads = (self._remote_pool, self.remote_threads) if remote else (self._pool, self.read_threads)
        needs = needs_of(request, self.model.input_bands)

        def work(date: dt.date) -> DateItem:
            group = by_date[date]
            ids = tuple(s.id for s in group)
            when = min(s.datetime for s in group)
            try:
                with self.phases("read"):
                    outcome: Any = self.reader.read(
                        request.cloud_mask, layout, group, pixel_probability=pixel_probability, needs=needs
                    )
                if reducer is not None:
                    with self.phases("reduce"):
                        outcome = reducer(outcome)
            except FisError as exc:
                outcome = ObservationError(date=date, scenes=ids, message=exc.message)
            return DateItem(date=date, datetime=when, scenes=ids, outcome=outcome, layout=layout)

        items = _bounded_map(pool, work, dates, window=threads + 1, budget=budget)
        for done, item in enumerate(items, start=1):
            if progress:
                progress(done, len(dates))
            yield item

    def layout(self, request: TimeseriesRequest, scenes: Sequence[SceneRecord]) -> RequestLayout:
        """The request's grid, polygon pixels and cloud cells over ``scenes`` (:func:`.layout.request_layout`)."""
        with self.phases("layout"):
            return request_layout(request, scenes, self.cache, max_pixels=self.max_pixels)


class _Series:
    """One request's series being built from its streamed dates (the one orchestration of
    :meth:`Engine.compute` and :meth:`Engine.compute_many`).

    Rows are dates (each reduced with the request's statistics options, on the read thread via
    :attr:`reducer`) or, with ``aggregation``, intervals filled by :class:`_Intervals`.
    """

    def __init__(self, model: CloudModel, request: TimeseriesRequest):
        self.model = model
        self.request = request
        self.options = request.statistics
        aggregation = request.aggregation
        self.per_interval = _Intervals(model, self.options, request.time_range, aggregation) if aggregation else None
        #: the request as read: an extended last interval reads the scenes of its extra time too
        self.reading = dataclasses.replace(request, time_range=covered_range(request.time_range, aggregation))
        #: reduces a date on the read thread (None when aggregating: intervals take the pixels)
        self.reducer: Callable[[DatePixels], DateReduction] | None = self._reduce if self.per_interval is None else None
        self.rows: list[ReducedDate] = []
        self.errors: list[ObservationError] = []
        self.warnings: list[str] = []
        self.grid: dict[str, Any] = {}

    def _reduce(self, pixels: DatePixels) -> DateReduction:
        return reduce_date(
            pixels, model_bands=self.model.input_bands, model_level=self.model.manifest.product_level,
            options=self.options,
        )

    def add(self, item: DateItem) -> None:
        """Take the next date (ascending)."""
        per_interval = self.per_interval
        self.grid = item.layout.grid.to_dict()
        if per_interval is not None:
            self.rows.extend(per_interval.close_before(item.datetime))
            if not per_interval.takes(item.datetime):
                return  # after a skipped last interval
        if isinstance(item.outcome, ObservationError):
            self.errors.append(item.outcome)
            return
        if per_interval is None:
            assert isinstance(item.outcome, DateReduction)  # reduced on the read thread
            self.rows.append(ReducedDate(item.date, item.datetime, item.scenes, item.outcome))
            notes = item.outcome.warnings
        else:
            assert isinstance(item.outcome, DatePixels)
            notes = per_interval.add(item.date, item.datetime, item.scenes, item.outcome)
        self.warnings.extend(f"{item.date.isoformat()} ({', '.join(item.scenes)}): {w}" for w in notes)

    def result(self) -> SeriesResult:
        """The series of the dates added."""
        if self.per_interval is not None:
            self.rows.extend(self.per_interval.close_rest())
        return series_result(self.model, self.rows, self.errors, self.grid, tuple(self.warnings), self.request.outputs)


@dataclass
class _Member:
    """One request of :meth:`Engine.compute_many` that reads: its series, scenes in range and layout."""

    index: int
    series: _Series
    scenes: list[SceneRecord]
    layout: RequestLayout
    #: whether any of its files is remote (read on the remote pool)
    remote: bool


def _split(group: list[_Member], max_pixels: int) -> list[list[_Member]]:
    """``group`` halved along its longer side until each part's union grid has at most ``max_pixels``."""
    union = union_grid([m.layout.grid for m in group])
    assert union is not None
    if len(group) == 1 or union.size <= max_pixels:
        return [group]
    axis = 0 if union.width >= union.height else 1

    def centre(member: _Member) -> float:
        bounds = member.layout.grid.bounds
        return (bounds[axis] + bounds[axis + 2]) / 2

    ordered = sorted(group, key=centre)
    half = len(ordered) // 2
    return _split(ordered[:half], max_pixels) + _split(ordered[half:], max_pixels)


class _Intervals:
    """The aggregation intervals of a request, filled with the streamed dates and closed in order.

    The interval being filled keeps its dates' samples (``all``, ``least_cloudy``) or a per-pixel
    clear composite (``clear_mean``) and is reduced the way ``pick`` says when it closes.
    """

    def __init__(self, model: CloudModel, options: StatisticsOptions, time_range: TimeRange, aggregation: Aggregation):
        self.model = model
        self.options = options
        self.pick = aggregation.pick
        self.spans = intervals(time_range, aggregation)
        self.k = 0
        self._reset()

    def _reset(self) -> None:
        self.dates: list[tuple[dt.date, dt.datetime, tuple[str, ...]]] = []
        self.samples: list[Sample] = []
        self.composite = ClearComposite(
            model_bands=self.model.input_bands, model_level=self.model.manifest.product_level, options=self.options
        )

    def close_before(self, when: dt.datetime) -> list[ReducedDate]:
        """The rows of the intervals that end before ``when`` (closed, possibly empty ones)."""
        rows = []
        while self.k < len(self.spans) and when > self.spans[self.k].end:
            rows.append(self._close(self.spans[self.k]))
            self.k += 1
        return rows

    def takes(self, when: dt.datetime) -> bool:
        """Whether a date at ``when`` belongs to the interval being filled (after :meth:`close_before`)."""
        return self.k < len(self.spans) and when >= self.spans[self.k].start

    def close_rest(self) -> list[ReducedDate]:
        """The rows of every interval not closed yet."""
        rows = []
        while self.k < len(self.spans):
            rows.append(self._close(self.spans[self.k]))
            self.k += 1
        return rows

    def add(self, date: dt.date, when: dt.datetime, scenes: tuple[str, ...], pixels: DatePixels) -> tuple[str, ...]:
        """Take one date into the interval being filled; returns its warnings."""
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
        return sample.warnings

    def _close(self, interval: Interval) -> ReducedDate:
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
            pooled = [dataclasses.replace(s, warnings=()) for s in samples]
            sample = pool(pooled) if pooled else _empty_sample(self.options)
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


def _bounded_map(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Sequence[T], *, window: int,
    budget: RequestBudget | None = None,
) -> Iterator[R]:
    """Like ``pool.map`` but with at most ``window`` items in flight, so memory stays bounded.

    With ``budget`` the wait for each item ends at its deadline (:class:`~fis.errors.RequestTimeout`);
    items not started when the caller stops are cancelled (a running one finishes on its thread).
    """
    pending: deque[tuple[T, Future[R]]] = deque()
    iterator = iter(items)
    try:
        for item in iterator:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= window:
                break
        done = 0
        while pending:
            item, future = pending.popleft()
            if budget is not None:
                budget.check_time(f"date {item}", done=done, total=len(items))
                try:
                    result = future.result(timeout=budget.remaining())
                except FutureTimeout:
                    if future.done():
                        raise  # the item's own TimeoutError
                    raise budget.timeout(f"date {item}", done=done, total=len(items)) from None
            else:
                result = future.result()
            yield result
            done += 1
            for item in iterator:
                pending.append((item, pool.submit(fn, item)))
                break
    finally:
        for _, future in pending:
            future.cancel()


#: GDAL's block cache in MB unless the engine is given one (``FIS_GDAL_CACHEMAX_MB``). GDAL's default
#: (5 % of RAM) lets decoded blocks of large fields pile up in the process; a request reads each
#: window once, so a larger cache only pays off when requests overlap.
GDAL_CACHEMAX_MB = 64


def _enter_gdal_environment(options: dict[str, Any]) -> None:
    """Give a read thread one lasting GDAL environment (entering one per read costs file stats)."""
    environment = rasterio.Env(**options)
    environment.__enter__()
    threading.current_thread().__dict__["_fis_gdal_env"] = environment
