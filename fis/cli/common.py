"""Shared pieces of the ``fis`` commands: settings, one-line errors, closing resources."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from fis.config import Settings
from fis.errors import FisError
from fis.protocols.native.export import FORMATS


def load_settings() -> Settings:
    """Settings from ``FIS_*`` variables (read where a command starts, never at import)."""
    return Settings.from_env()


def check_output(output: str) -> None:
    """Fail before any work when ``-o`` cannot be written: no such folder, not writable, or a directory."""
    if output == "-":
        return
    path = Path(output)
    parent = path.parent
    if path.is_dir():
        raise click.ClickException(f"--output {output}: is a directory; give a file name")
    if not parent.is_dir():
        raise click.ClickException(f"--output {output}: the directory {parent} does not exist")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise click.ClickException(f"--output {output}: not writable (permission denied)")


def fail(exc: FisError) -> None:
    """Turn a :class:`FisError` into click's one-line ``Error: ...`` and exit status 1."""
    raise click.ClickException(exc.message) from None


def close_on_exit(close: Any) -> None:
    """Release database connections when the command ends (engines are made per command)."""
    click.get_current_context().call_on_close(close)


class FisGroup(click.Group):
    """Any :class:`FisError` a command lets through becomes a one-line ``Error: ...`` and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FisError as exc:
            raise click.ClickException(exc.message) from None


@contextmanager
def open_output(output: str) -> Iterator[IO[Any]]:
    """``-`` is standard output; a file is opened with ``newline=""`` so CSV rows keep their CRLF."""
    if output == "-":
        with click.open_file("-", "w", encoding="utf-8") as out:
            yield out
    else:
        with open(output, "w", encoding="utf-8", newline="") as out:
            yield out


#: ``--format`` of the commands that print a series: the API's response formats
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="json: the API's JSON body; csv: one row per date; long_csv: one row per date x statistic; "
    "geojson: the field as a Feature with the series in its properties.",
)
