"""Find sources (STAC JSON files or folders, SAFE products) and parse them into scene records.

No database here: :mod:`fis.services.ingest` stores what this yields.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from fis.catalog.safe import is_safe_source, scene_from_safe
from fis.catalog.stac import iter_item_dicts, load_json_source, scene_from_item
from fis.core.scenes import SceneRecord
from fis.errors import FisError, IngestError


def discover_sources(sources: Iterable[str]) -> Iterator[str]:
    """Expand directories into the sources below them; pass files and URLs through.

    Below a directory: ``*.json`` files (STAC), ``.SAFE`` product directories (not descended
    into) and ``*.zip`` files (zipped SAFE products), in path order. A directory argument that is
    itself a SAFE product is passed through.
    """
    for source in sources:
        if urlparse(source).scheme in ("http", "https"):
            yield source
            continue
        path = Path(source)
        if path.is_dir() and not is_safe_source(path):
            yield from _walk(path)
        else:
            yield str(path)


def _walk(root: Path) -> Iterator[str]:
    found: list[str] = []
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        products = [d for d in subdirs if is_safe_source(here / d)]
        found.extend(str(here / d) for d in products)
        subdirs[:] = sorted(d for d in subdirs if d not in products)
        found.extend(str(here / f) for f in files if f.lower().endswith((".json", ".zip")) and (here / f).is_file())
    yield from sorted(found)


def read_scenes(source: str) -> Iterator[SceneRecord | tuple[str, str]]:
    """Scene records of one source, or ``(name, reason)`` for each item that cannot be read."""
    if not urlparse(source).scheme and is_safe_source(Path(source)):
        try:
            yield scene_from_safe(source)
        except FisError as exc:
            yield (source, exc.message)
        return
    try:
        document = load_json_source(source)
    except (OSError, ValueError) as exc:
        yield (source, f"cannot read JSON: {exc}")
        return
    if isinstance(document, dict) and document.get("type") in ("Catalog", "Collection"):
        return  # STAC catalogs/collections beside the items carry no scenes themselves
    try:
        items = list(iter_item_dicts(document, source=source))
    except IngestError as exc:
        yield (source, exc.message)
        return
    for index, item in enumerate(items):
        name = item.get("id") if isinstance(item, dict) and item.get("id") else f"{source}#{index}"
        try:
            record = scene_from_item(item, base_href=source if urlparse(source).scheme else str(Path(source).resolve()))
            check_local_assets(record)
            yield record
        except FisError as exc:
            yield (str(name), exc.message)


def check_local_assets(record: SceneRecord) -> None:
    for asset in record.assets.values():
        href = asset.href
        if urlparse(href).scheme or href.startswith("/vsi"):
            continue
        if not Path(href).is_file():
            raise IngestError(f"{record.id}: band {asset.band} file {href} does not exist")
