"""``fis stats``: compute, store and print a time series."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from fis.cli.common import check_output, close_on_exit, fail, format_option, load_settings, open_output
from fis.cli.request_options import request_options, scalar_body
from fis.errors import FisError


def _read_geometry(value: str) -> Any:
    path = Path(value)
    if not path.is_file() and _looks_like_path(value):
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise click.BadParameter(
            f"the file {value} {problem}; pass a GeoJSON file (Polygon, MultiPolygon, Feature) or a WKT string",
            param_hint="--geometry",
        )
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise click.BadParameter(f"{value} is not a GeoJSON file: {exc}", param_hint="--geometry") from None
        if isinstance(data, dict) and data.get("type") == "FeatureCollection":
            features = data.get("features") or []
            if len(features) != 1:
                raise click.BadParameter(
                    f"{value} holds {len(features)} features; pass a file with one Polygon/MultiPolygon feature",
                    param_hint="--geometry",
                )
            return features[0]
        return data
    return value  # WKT


def _looks_like_path(value: str) -> bool:
    """A file name rather than WKT/JSON text: ends in .json/.geojson or has a path separator (WKT has none)."""
    text = value.strip()
    if text.startswith("{"):
        return False
    return text.lower().endswith((".json", ".geojson")) or "/" in text or os.sep in text


@click.command()
@click.option(
    "--geometry", "geometry", required=True, help="GeoJSON file (Polygon, MultiPolygon, Feature) or a WKT string."
)
@click.option("--from", "date_from", required=True, help="First date (ISO 8601, inclusive).")
@click.option("--to", "date_to", required=True, help="Last date (ISO 8601, inclusive; a date means the whole day).")
@request_options
@click.option("--index", "indices", multiple=True, metavar="NAME[=EXPR]",
              help="Also compute an index: a built-in (ndwi, ndmi, nbr, evi, savi) or NAME=band math, "
                   "e.g. --index 'my_ratio=(B08 - B11) / (B08 + B11)'. Repeatable.")
@click.option("--percentiles", default=None, metavar="Q,Q,...",
              help="Extra percentiles (0..1) of NDVI and every index, e.g. 0.05,0.5,0.95.")
@click.option("--histogram-bins", type=int, default=None, help="Histogram of NDVI and every index with N bins.")
@click.option(
    "--histogram-bin-width",
    type=float,
    default=None,
    help="Histogram with bins of this width (needs --histogram-range).",
)
@click.option(
    "--histogram-range",
    default=None,
    metavar="LOW,HIGH",
    help="Histogram range, e.g. -1,1 [default: each date's min,max].",
)
@click.option("--histogram-type", type=click.Choice(["equidistant", "equal_frequency"]), default=None,
              help="Bin layout [default: equidistant].")
@click.option("--interval", default=None, metavar="DURATION",
              help="Aggregate dates into intervals (ISO 8601, P1D..P1Y), e.g. P10D or P1M: one row per interval.")
@click.option("--last-interval", type=click.Choice(["shorten", "skip", "extend"]), default=None,
              help="When the time range is not a whole number of intervals [default: shorten].")
@click.option("--pick", type=click.Choice(["all", "least_cloudy", "clear_mean"]), default=None,
              help="Which dates make an interval's row [default: all].")
@format_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-", help="Output file (default stdout)."
)
def stats(
    geometry: str,
    date_from: str,
    date_to: str,
    indices: tuple[str, ...],
    percentiles: str | None,
    histogram_bins: int | None,
    histogram_bin_width: float | None,
    histogram_range: str | None,
    histogram_type: str | None,
    interval: str | None,
    last_interval: str | None,
    pick: str | None,
    fmt: str,
    output: str,
    **options: Any,
) -> None:
    """Compute and store a time series, like POST /api/v1/timeseries, and print it."""
    check_output(output)
    from fis.api.app import create_app
    from fis.core.observation import csv_columns
    from fis.core.request import parse_timeseries_request
    from fis.protocols.native.export import csv_lines, geojson_feature, long_csv_lines
    from fis.protocols.native.views import CloudFilter, series_json
    from fis.store.db import ensure_migrated

    body: dict[str, Any] = {"geometry": _read_geometry(geometry), "time_range": {"from": date_from, "to": date_to}}
    composite = {
        "indices": _index_options(indices),
        "statistics": _statistics_options(
            percentiles, histogram_bins, histogram_bin_width, histogram_range, histogram_type
        ),
        "aggregation": (
            None
            if interval is None and last_interval is None and pick is None
            else {
                k: v
                for k, v in {"interval": interval, "last_interval": last_interval, "pick": pick}.items()
                if v is not None
            }
        ),
    }
    body.update(scalar_body(options))
    body.update({k: v for k, v in composite.items() if v is not None})
    app = create_app(load_settings())
    svc = app.extensions["fis"]
    close_on_exit(svc.close)
    try:
        ensure_migrated(svc.db)
        request = parse_timeseries_request(body)
        with click.progressbar(length=1, label="Computing", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)
            series, result = svc.run_timeseries(request, progress=progress)
    except FisError as exc:
        fail(exc)
    view = CloudFilter.from_parameters(series.parameters)
    observations = list(result.observations)
    with open_output(output) as out:
        if fmt in ("csv", "long_csv"):
            shown = view.apply(observations)
            make = long_csv_lines if fmt == "long_csv" else csv_lines
            for line in make(
                [o for o, _ in shown], cloudy=[c for _, c in shown], columns=csv_columns(series.parameters)
            ):
                out.write(line)
        else:
            from fis.store.queries import scene_details

            with svc.sessions() as session:
                details = scene_details(session, [i for o in observations for i in o.scenes])
            with app.test_request_context("/", base_url=svc.settings.public_url):
                document = series_json(series, observations, list(result.errors), view, details)
                document["reused"], document["computed"] = result.reused, result.computed
                out.write(json.dumps(geojson_feature(document) if fmt == "geojson" else document, indent=2))
                out.write("\n")
    click.echo(
        f"series {series.id}: {len(observations)} observations, status {result.status} "
        f"({result.reused} reused, {result.computed} computed)",
        err=True,
    )


def _index_options(values: tuple[str, ...]) -> dict[str, str | None] | None:
    """``("ndwi", "r=(B08 - B11) / (B08 + B11)")`` -> ``{"ndwi": None, "r": "(B08 - B11) / (B08 + B11)"}``."""
    if not values:
        return None
    out: dict[str, str | None] = {}
    for value in values:
        name, sep, expression = value.partition("=")
        out[name.strip()] = expression.strip() if sep else None
    return out


def _numbers(value: str, option: str, count: int | None = None) -> list[float]:
    try:
        numbers = [float(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers", param_hint=option) from None
    if count is not None and len(numbers) != count:
        raise click.BadParameter(f"{value!r}: give {count} numbers separated by a comma", param_hint=option)
    return numbers


def _statistics_options(percentiles: str | None, bins: int | None, bin_width: float | None, value_range: str | None,
                        kind: str | None) -> dict[str, Any] | None:
    """The ``statistics`` body key from the --percentiles and --histogram-* options."""
    out: dict[str, Any] = {}
    if percentiles is not None:
        out["percentiles"] = _numbers(percentiles, "--percentiles")
    if any(v is not None for v in (bins, bin_width, value_range, kind)):
        histogram: dict[str, Any] = {"bins": bins, "bin_width": bin_width, "type": kind}
        if value_range is not None:
            histogram["low"], histogram["high"] = _numbers(value_range, "--histogram-range", count=2)
        out["histogram"] = {k: v for k, v in histogram.items() if v is not None}
    return out or None
