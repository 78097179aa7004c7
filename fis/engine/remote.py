"""Remote rasters (COGs over HTTP(S), S3, GCS, Azure): how they are recognised, GDAL's HTTP settings for
them, and retries of failed reads.

Remote reads are latency-bound (every block is an HTTP range request), so the engine reads the dates of
a request with remote files on a larger pool of threads (:class:`RemotePolicy` ``threads``), each with
the GDAL environment of :meth:`RemotePolicy.gdal_options`. A read that still fails after GDAL's own
HTTP retries (timeouts, truncated bodies) is retried here with exponential backoff; then the date
becomes an ``errors`` entry of the series (PARTIAL), never a failed request.
"""

from __future__ import annotations

import ctypes
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlparse

from rasterio._path import _parse_path

from fis.errors import RasterReadError

T = TypeVar("T")

#: URL schemes and GDAL virtual file systems that read over the network
REMOTE_SCHEMES = ("http", "https", "s3", "gs", "az", "azure")
REMOTE_PREFIXES = ("/vsicurl", "/vsis3", "/vsigs", "/vsiaz", "/vsiadls", "/vsioss", "/vsiswift", "/vsihdfs")


def is_remote(href: str) -> bool:
    """True for a URL or a GDAL network path (``https://...``, ``s3://...``, ``/vsicurl/...``)."""
    return urlparse(href).scheme in REMOTE_SCHEMES or href.startswith(REMOTE_PREFIXES)


@dataclass(frozen=True)
class RemotePolicy:
    """How remote rasters are read: threads, GDAL's HTTP timeouts and retries, our retries of a read."""

    #: threads reading the dates of a request with remote files (FIS_REMOTE_READ_THREADS)
    threads: int = 32
    #: seconds GDAL waits for an HTTP response (GDAL_HTTP_TIMEOUT; FIS_REMOTE_TIMEOUT_S)
    timeout_s: int = 30
    #: retries of a failed read, after GDAL's own retries of 429/5xx answers (FIS_REMOTE_RETRIES)
    retries: int = 2
    #: first backoff in seconds, doubled per retry
    backoff_s: float = 0.5
    #: GDAL's own retries of 429/5xx answers (GDAL_HTTP_MAX_RETRY) and its first delay (GDAL_HTTP_RETRY_DELAY)
    gdal_retries: int = 3
    gdal_retry_delay_s: float = 0.5

    def gdal_options(self) -> dict[str, str]:
        """GDAL configuration of the remote read threads (documented in docs/configuration.md); a variable
        set in the process' environment (e.g. ``GDAL_HTTP_TIMEOUT``) is left to it."""
        options = {
            # no directory listing to look for sidecar files (.aux.xml, .ovr, .msk): one request per open saved
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
            # only raster files are opened over HTTP (no probing of sidecar names)
            "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF,.jp2,.JP2",
            # adjacent blocks in one range request; HTTP/2 multiplexing over one connection where offered
            "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
            "GDAL_HTTP_MULTIPLEX": "YES",
            "GDAL_HTTP_VERSION": "2",
            # the first request of an open fetches 64 KB: header and tile index of a COG in one answer
            "GDAL_INGESTED_BYTES_AT_OPEN": str(64 * 1024),
            # a per-handle cache of read bytes (headers, tile index) and the process-wide region cache
            "VSI_CACHE": "TRUE",
            "VSI_CACHE_SIZE": str(8 * 1024 * 1024),
            "CPL_VSIL_CURL_CACHE_SIZE": str(256 * 1024 * 1024),
            # GDAL retries 429, 500, 502, 503 and 504 answers itself, then our retries take over
            "GDAL_HTTP_MAX_RETRY": str(self.gdal_retries),
            "GDAL_HTTP_RETRY_DELAY": str(self.gdal_retry_delay_s),
            "GDAL_HTTP_TIMEOUT": str(self.timeout_s),
            "GDAL_HTTP_CONNECTTIMEOUT": str(min(self.timeout_s, 10)),
        }
        return {key: value for key, value in options.items() if key not in os.environ}

    def retrying(self, href: str, read: Callable[[], T]) -> T:
        """``read()``, retried with backoff when it raises :class:`RasterReadError` for a remote ``href``."""
        attempts = self.retries + 1 if is_remote(href) else 1
        for attempt in range(attempts):
            try:
                return read()
            except RasterReadError:
                if attempt == attempts - 1:
                    raise
                time.sleep(self.backoff_s * 2**attempt)
                forget_failure(href)
        raise AssertionError("unreachable")


def forget_failure(href: str) -> None:
    """Drop what GDAL cached about ``href`` (its size, or that it failed to open), so a retry asks again."""
    clear = _partial_clear_cache()
    if clear is not None:
        clear(_parse_path(href).as_vsi().encode())


@cache
def _partial_clear_cache() -> Any:
    """GDAL's ``VSICurlPartialClearCache`` from the libgdal rasterio uses (rasterio does not wrap it; other
    packages, e.g. pyogrio, may load their own libgdal); None when it cannot be told apart."""
    import rasterio

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted(set(re.findall(r"(/\S*libgdal\S*\.so\S*)", maps.read())))
    except OSError:
        return None
    bundled = os.path.join(os.path.dirname(os.path.dirname(rasterio.__file__)), "rasterio.libs") + os.sep
    ours = [p for p in paths if p.startswith(bundled)] or (paths if len(paths) == 1 else [])
    if len(ours) != 1:
        return None
    try:
        function = ctypes.CDLL(ours[0]).VSICurlPartialClearCache
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_char_p]
    function.restype = None
    return function
