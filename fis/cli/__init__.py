"""The ``fis`` command line: ingest an archive, migrate, serve, compute series, build a demo.

One module per command; this one only assembles the group.
"""

from __future__ import annotations

import click

from fis.cli.batch import batch
from fis.cli.clients import clients
from fis.cli.clouds import clouds
from fis.cli.common import FisGroup
from fis.cli.db import db
from fis.cli.demo import demo
from fis.cli.ingest import ingest
from fis.cli.series import series
from fis.cli.serve import serve
from fis.cli.stats import stats


@click.group(cls=FisGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fis")
def main() -> None:
    """fis: cloud-aware Sentinel-2 statistics for field polygons, served from your own archive.

    Settings come from FIS_* environment variables: FIS_DATABASE_URL (SQLAlchemy URL; default
    an SQLite file in FIS_DATA_DIR), FIS_DATA_DIR (default ./var), FIS_MAX_PIXELS, ...
    """


for _command in (db, ingest, clouds, serve, stats, series, batch, clients, demo):
    main.add_command(_command)
