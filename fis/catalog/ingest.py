"""``fis ingest``: find STAC sources, parse them, register scenes (one transaction per item)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.orm import Session, sessionmaker

from fis.catalog.records import SceneRecord
from fis.catalog.stac import iter_item_dicts, load_json_source, scene_from_item
from fis.errors import FisError, IngestError
from fis.store import upsert_scene


@dataclass
class IngestReport:
    """What an ingest run did: new and updated scene ids, and failures with reasons."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "failed": [{"item": name, "reason": reason} for name, reason in self.failed],
        }


def discover_sources(sources: Iterable[str]) -> Iterator[str]:
    """Expand directories into the JSON files below them; pass files and URLs through."""
    for source in sources:
        if urlparse(source).scheme in ("http", "https"):
            yield source
            continue
        path = Path(source)
        if path.is_dir():
            yield from (str(p) for p in sorted(path.rglob("*.json")) if p.is_file())
        else:
            yield str(path)


def read_scenes(source: str) -> Iterator[SceneRecord | tuple[str, str]]:
    """Scene records of one source, or ``(name, reason)`` for each item that cannot be read."""
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
            _check_local_assets(record)
            yield record
        except FisError as exc:
            yield (str(name), exc.message)


def _check_local_assets(record: SceneRecord) -> None:
    for asset in record.assets.values():
        href = asset.href
        if urlparse(href).scheme or href.startswith("/vsi"):
            continue
        if not Path(href).is_file():
            raise IngestError(f"{record.id}: band {asset.band} file {href} does not exist")


def ingest(
    sources: Iterable[str],
    factory: sessionmaker[Session],
    *,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Register every scene found in ``sources``; broken items are reported and skipped."""
    report = IngestReport()
    for source in discover_sources(sources):
        for outcome in read_scenes(source):
            if isinstance(outcome, tuple):
                name, reason = outcome
                report.failed.append((name, reason))
            else:
                try:
                    with factory() as session, session.begin():
                        created = upsert_scene(session, outcome)
                except Exception as exc:  # noqa: BLE001 - report any database error per item
                    report.failed.append((outcome.id, f"cannot store: {exc}"))
                    continue
                (report.created if created else report.updated).append(outcome.id)
                name = outcome.id
            if progress:
                progress(name)
    return report
