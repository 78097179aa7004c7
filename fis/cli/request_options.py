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

from fis.core.request import TimeseriesBody

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


def scalar_body(values: dict[str, Any]) -> dict[str, Any]:
    """The body keys given on the command line (flags only when set)."""
    return {k: v for k, v in values.items() if v is not None and v is not False}
