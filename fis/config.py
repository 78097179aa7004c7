"""Settings, read once from the environment (prefix ``FIS_``) or given explicitly.

Nothing here runs at import time: call :meth:`Settings.from_env` where the app or CLI starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fis.errors import InvalidInput

ENV_PREFIX = "FIS_"


@dataclass(frozen=True)
class Settings:
    """Service settings. Every field can be set with ``FIS_<FIELD_NAME_UPPER>``."""

    #: Where generated rasters (demo archive, cloud layers) and the SQLite default live.
    data_dir: Path = field(default_factory=lambda: Path("var").resolve())
    #: SQLAlchemy URL; empty means the embedded SQLite file ``<data_dir>/fis.sqlite``.
    database_url: str = ""
    #: Largest request grid (pixels per observation at the requested resolution) served synchronously.
    max_pixels: int = 4_000_000
    #: Largest accepted request body in bytes.
    max_body_bytes: int = 5 * 1024 * 1024
    #: Most vertices a request geometry may have (larger ones are refused with 413 before any geometry work).
    max_vertices: int = 100_000
    #: Seconds one synchronous request may compute (checked between dates); 0 = no limit.
    request_timeout_s: float = 120.0
    #: Most acquisition dates one synchronous request may compute (413 before any is read); 0 = no limit.
    max_dates: int = 1000
    #: Longest band-math expression (custom index) in characters.
    max_expression_length: int = 500
    #: Most operations (numbers, bands, operators, functions: parse-tree nodes) of one band-math expression.
    max_expression_nodes: int = 100
    #: ``off`` (a local single-user service: no tokens) or ``required`` (OAuth2 client credentials, see docs/team.md).
    auth: str = "off"
    #: Lifetime of an access token from ``POST /oauth/token`` in seconds.
    token_ttl: int = 3600
    #: Per-client request rate (flask-limiter syntax, e.g. "600/minute"); empty disables the limit.
    rate_limit: str = "600/minute"
    #: Storage of the rate-limit counters: empty = in memory (one process), else e.g. redis://127.0.0.1:6379.
    rate_limit_storage: str = ""
    #: Log lines of ``fis serve``: ``json`` (one object per line, with the request id) or ``text``.
    log_format: str = "json"
    #: Name of the classifier manifest in ``models/`` (or a path to one).
    cloud_model: str = "s2cloudless-v0.1"
    #: Threads reading rasters concurrently within one request.
    read_threads: int = 2
    #: Threads reading a request's dates when its files are remote (http(s)://, s3://, /vsicurl/...): the
    #: reads wait on HTTP answers, so many more than the cores pay off.
    remote_read_threads: int = 32
    #: Seconds GDAL waits for an HTTP answer of a remote file (GDAL_HTTP_TIMEOUT).
    remote_timeout_s: int = 30
    #: Retries (with backoff) of a failed read of a remote file before its date is reported as an error.
    remote_retries: int = 2
    #: Open raster datasets kept between requests (one pool shared by the reader threads).
    dataset_cache_size: int = 4096
    #: GDAL's block cache of the reader threads in MB (decoded blocks; GDAL's own default is 5 % of RAM).
    gdal_cachemax_mb: int = 64
    #: Worker processes of the local dask cluster (``fis batch``, ``fis clouds --workers``) when none is given.
    dask_workers: int = 2
    #: Address of an existing dask scheduler (``tcp://host:8786``); empty = start a local cluster.
    dask_scheduler: str = ""
    #: Worker processes ``fis clouds`` uses when ``--workers`` is not given: 0 = compute in the CLI's own process.
    cloud_workers: int = 0
    #: Page size of ``GET /api/v1/timeseries`` when none is given.
    page_size: int = 50
    #: Base URL used for links in output made outside an HTTP request (``fis stats``).
    public_url: str = "http://127.0.0.1:8080"
    #: Seconds the evalscripts of one ``POST /api/v1/statistics`` request may run in total.
    evalscript_timeout_s: int = 60
    #: Worker processes running evalscripts (each with its own V8; requests beyond them wait).
    evalscript_processes: int = 2
    #: V8 heap limit of an evalscript worker in MB.
    evalscript_heap_mb: int = 256
    #: Address-space limit of an evalscript worker in MB (ArrayBuffers live outside the V8 heap).
    evalscript_address_space_mb: int = 4096
    #: Origins allowed to call ``/api/v1/statistics`` and ``/oauth/token`` from a browser (CORS), comma-separated;
    #: ``*`` allows any; empty allows none.
    cors_origins: str = ""
    #: Base map of the web page: an XYZ tile URL template (``https://tiles.example.org/{z}/{x}/{y}.png``); empty = none.
    basemap_url: str = ""
    #: Attribution shown under the base map (required by most tile providers).
    basemap_attribution: str = ""

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fis.sqlite').as_posix()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``FIS_*`` variables, then apply explicit ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        settings = cls(**values)
        return replace(settings, **overrides) if overrides else settings


def _coerce(name: str, type_name: Any, raw: str) -> Any:
    type_text = str(type_name)
    try:
        if "Path" in type_text:
            return Path(raw).expanduser().resolve()
        if "int" in type_text:
            return int(raw)
        if "float" in type_text:
            return float(raw)
        return raw
    except ValueError:
        raise InvalidInput(
            f"environment variable {ENV_PREFIX}{name.upper()}={raw!r} is not a valid {type_text}",
            field=ENV_PREFIX + name.upper(),
        ) from None
