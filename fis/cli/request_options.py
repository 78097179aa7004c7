"""``fis stats`` options generated from the request model (:class:`fis.core.request.TimeseriesBody`).

Every scalar body key becomes ``--key-with-dashes`` (type, choices, default and help from the
model; a list of choices takes them comma-separated); the composite keys have hand-made options listed in
:data:`COMPOSITE_OPTIONS`.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import click
from pydantic.fields import FieldInfo

from fis.core.request import FEATURE_KEYS, TimeseriesBody

F = TypeVar("F", bound=Callable[..., Any])

#: body keys whose options are written by hand in :mod:`fis.cli.stats` -> those options
COMPOSITE_OPTIONS: dict[str, tuple[str, ...]] = {
    "geometry": ("--geometry",),
    "time_range": ("--from", "--to"),
    "indices": ("--index",),
    "statistics": ("--percentiles", "--histogram-bins", "--histogram-bin-width", "--histogram-range",
                   "--histogram-type"),
    "aggregation": ("--interval", "--last-interval", "--pick"),
}
#: help text used instead of the model's description
HELP: dict[str, str] = {
    "crs": "CRS of the geometry (default EPSG:4326, lon/lat).",
    "include_cloudy": "Keep cloudy observations in the output (flagged).",
}


def _base(annotation: Any) -> Any:
    """The scalar type of a field: ``Optional[Annotated[float, ...]]`` -> float; a Literal or a list stays."""
    if typing.get_origin(annotation) in (Literal, list):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _base(args[0])
    if args:
        return _base(args[0])
    return annotation


def option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _option(key: str, info: FieldInfo) -> Callable[[F], F]:
    base = _base(info.annotation)
    text = HELP.get(key) or info.description or ""
    if base is bool:
        return click.option(option_name(key), key, is_flag=True, default=None, help=text)
    default = info.get_default()
    shown = f" [default: {default}]" if default not in (None, False) and "[default" not in text else ""
    kind: Any = str
    if typing.get_origin(base) is list:
        choices = typing.get_args(typing.get_args(base)[0])
        return click.option(
            option_name(key), key, default=None, metavar=",".join(choices), callback=_comma_list,
            help=f"{text} Comma-separated.",
        )
    if typing.get_origin(base) is Literal:
        kind = click.Choice([str(v) for v in typing.get_args(base)])
    elif base in (int, float):
        kind = base
    return click.option(option_name(key), key, type=kind, default=None, help=text + shown)


def _comma_list(context: click.Context, parameter: click.Parameter, value: str | None) -> list[str] | None:
    """``"ndvi, cloud_fraction"`` -> ``["ndvi", "cloud_fraction"]`` (the request model checks the values)."""
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def scalar_keys() -> list[str]:
    """The body keys with a generated option, in the model's order."""
    return [k for k in TimeseriesBody.model_fields if k not in COMPOSITE_OPTIONS]


def request_options(function: F) -> F:
    """Add one option per scalar body key (values arrive as keyword arguments named like the keys)."""
    for key in reversed(scalar_keys()):
        function = _option(key, TimeseriesBody.model_fields[key])(function)
    return function


def job_options(function: F) -> F:
    """The options of a batch job: every body key but the per-feature ones (geometry, crs, name), with the
    composite options; :func:`options_body` turns the values into the body."""
    for key in reversed([k for k in scalar_keys() if k not in FEATURE_KEYS]):
        function = _option(key, TimeseriesBody.model_fields[key])(function)
    return composite_options(function)


def composite_options(function: F) -> F:
    """``--index``, ``--percentiles``, ``--histogram-*``, ``--interval``, ``--last-interval``, ``--pick``."""
    decorators = [
        click.option("--index", "indices", multiple=True, metavar="NAME[=EXPR]",
                     help="Also compute an index: a built-in (ndwi, ndmi, nbr, evi, savi) or NAME=band math, "
                          "e.g. --index 'my_ratio=(B08 - B11) / (B08 + B11)'. Repeatable."),
        click.option("--percentiles", default=None, metavar="Q,Q,...",
                     help="Extra percentiles (0..1) of NDVI and every index, e.g. 0.05,0.5,0.95."),
        click.option("--histogram-bins", type=int, default=None, help="Histogram of NDVI and every index with N bins."),
        click.option("--histogram-bin-width", type=float, default=None,
                     help="Histogram with bins of this width (needs --histogram-range)."),
        click.option("--histogram-range", default=None, metavar="LOW,HIGH",
                     help="Histogram range, e.g. -1,1 [default: each date's min,max]."),
        click.option("--histogram-type", type=click.Choice(["equidistant", "equal_frequency"]), default=None,
                     help="Bin layout [default: equidistant]."),
        click.option("--interval", default=None, metavar="DURATION",
                     help="Aggregate dates into intervals (ISO 8601, P1D..P1Y), e.g. P10D or P1M: one row per "
                          "interval."),
        click.option("--last-interval", type=click.Choice(["shorten", "skip", "extend"]), default=None,
                     help="When the time range is not a whole number of intervals [default: shorten]."),
        click.option("--pick", type=click.Choice(["all", "least_cloudy", "clear_mean"]), default=None,
                     help="Which dates make an interval's row [default: all]."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


#: keyword arguments of :func:`composite_options`
COMPOSITE_ARGUMENTS: tuple[str, ...] = (
    "indices", "percentiles", "histogram_bins", "histogram_bin_width", "histogram_range", "histogram_type",
    "interval", "last_interval", "pick",
)


def options_body(date_from: str, date_to: str, values: dict[str, Any]) -> dict[str, Any]:
    """The body (without geometry) from ``--from``/``--to``, the generated and the composite options' values."""
    composite = {key: values.pop(key, None) for key in COMPOSITE_ARGUMENTS}
    body: dict[str, Any] = {"time_range": {"from": date_from, "to": date_to}}
    aggregation = {
        k: composite[k] for k in ("interval", "last_interval", "pick") if composite[k] is not None
    }
    made = {
        "indices": _index_options(composite["indices"] or ()),
        "statistics": _statistics_options(
            composite["percentiles"], composite["histogram_bins"], composite["histogram_bin_width"],
            composite["histogram_range"], composite["histogram_type"],
        ),
        "aggregation": aggregation or None,
    }
    body.update(scalar_body(values))
    body.update({k: v for k, v in made.items() if v is not None})
    return body


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


def scalar_body(values: dict[str, Any]) -> dict[str, Any]:
    """The body keys given on the command line (flags only when set)."""
    return {k: v for k, v in values.items() if v is not None and v is not False}
