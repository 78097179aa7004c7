"""Ingest from a STAC API (``fis ingest --stac-api URL --collection ID ...``) with pystac-client.

The search runs ``/search`` with ``collections``, ``bbox``, ``datetime`` and a page ``limit``,
following ``next`` links (GET or POST, whichever the landing page advertises) up to
``max_items``. Every returned item goes through :func:`fis.catalog.stac.scene_from_item`, so band
detection and radiometry are exactly those of STAC files. Remote asset hrefs (``https://``,
``s3://``) are recorded as they are and are **not** opened at ingest: GDAL reads them at request
time through ``/vsicurl/`` and ``/vsis3/`` with its usual environment configuration
(``AWS_NO_SIGN_REQUEST``, ``AWS_REQUEST_PAYER``, ``GDAL_HTTP_*``, ... see the README). An
unreachable href then fails its date only (the series is ``PARTIAL``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from fis.core.scenes import SceneRecord
from fis.core.timerange import parse_interval
from fis.errors import FisError, InvalidInput

__all__ = ["DEFAULT_PAGE_SIZE", "parse_bbox_option", "read_stac_api"]

#: Items asked for per page (the server may return fewer).
DEFAULT_PAGE_SIZE = 100


def parse_bbox_option(text: str | None) -> tuple[float, float, float, float] | None:
    """``"minlon,minlat,maxlon,maxlat"`` -> four floats (None for empty); InvalidInput otherwise."""
    if text is None or not text.strip():
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise InvalidInput(f"--bbox {text!r} must be four numbers minlon,minlat,maxlon,maxlat", field="bbox") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"--bbox {text!r} must be four finite numbers minlon,minlat,maxlon,maxlat", field="bbox")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidInput(
            f"--bbox {text!r} is outside lon -180..180 / lat -90..90 or has min lat > max lat", field="bbox"
        )
    return min_lon, min_lat, max_lon, max_lat


def read_stac_api(
    url: str,
    collections: Sequence[str],
    *,
    bbox: tuple[float, float, float, float] | None = None,
    datetime: str | None = None,
    max_items: int | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    headers: dict[str, str] | None = None,
) -> Iterator[SceneRecord | tuple[str, str]]:
    """Scene records of a STAC API search, or ``(name, reason)`` per failure.

    A failure to open the API or to fetch a page is reported once with the URL (the items of
    the pages already read are still yielded); a broken item is reported by its id.
    """
    from fis.catalog.sources import check_local_assets
    from fis.catalog.stac import scene_from_item

    if urlparse(url).scheme not in ("http", "https"):
        raise InvalidInput(f"--stac-api {url!r} must be an http(s) URL of a STAC API landing page", field="stac_api")
    if not collections:
        raise InvalidInput(
            "--collection is required with --stac-api (e.g. --collection sentinel-2-l1c)", field="collection"
        )
    if datetime:
        parse_interval(datetime, field="datetime")  # a clear message before any request
    if max_items is not None and max_items < 1:
        raise InvalidInput(f"--max-items must be at least 1, got {max_items}", field="max_items")

    try:
        search = _search(url, list(collections), bbox=bbox, datetime=datetime, max_items=max_items,
                         page_size=page_size, headers=headers)
    except Exception as exc:  # noqa: BLE001 - network, HTTP and conformance errors are reported alike
        yield (url, f"cannot search the STAC API: {_reason(exc)}")
        return
    items = search.items_as_dicts()
    index = 0
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - a page that fails ends the search, reported
            yield (url, f"STAC API search stopped after {index} items: {_reason(exc)}")
            return
        index += 1
        name = str(item.get("id") or f"{url}#{index}") if isinstance(item, dict) else f"{url}#{index}"
        try:
            record = scene_from_item(item, base_href=_item_href(item, url))
            check_local_assets(record)
        except FisError as exc:
            yield (name, exc.message)
            continue
        yield record


def _search(url: str, collections: list[str], *, bbox: Any, datetime: str | None, max_items: int | None,
            page_size: int, headers: dict[str, str] | None) -> Any:
    from pystac_client import Client

    client = Client.open(url, headers=headers)
    methods = {str(link.extra_fields.get("method") or "GET").upper() for link in client.get_links("search")}
    method = "POST" if "POST" in methods or not methods else "GET"
    return client.search(
        method=method, collections=collections, bbox=bbox, datetime=datetime or None,
        max_items=max_items, limit=page_size,
    )


def _item_href(item: dict[str, Any], api_url: str) -> str:
    """Where the item lives (its ``self`` link), for resolving relative asset hrefs."""
    for link in item.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    collection = item.get("collection") or "items"
    return f"{api_url.rstrip('/')}/collections/{collection}/items/{item.get('id', '')}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    return first if len(first) <= 300 else first[:297] + "..."
