"""Ingest use case: find sources (:mod:`fis.catalog.sources`), parse them, register scenes.

One transaction per scene; a broken item or product is reported as ``(name, reason)`` and
skipped, so nothing is half-registered and the other sources are still ingested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from fis.catalog.sources import discover_sources, read_scenes
from fis.core.scenes import SceneRecord
from fis.store.queries import upsert_scene


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


def ingest(
    sources: Iterable[str],
    factory: sessionmaker[Session],
    *,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Register every scene found in ``sources``; broken items are reported and skipped."""
    return ingest_outcomes(
        (outcome for source in discover_sources(sources) for outcome in read_scenes(source)), factory, progress=progress
    )


def ingest_outcomes(
    outcomes: Iterable[SceneRecord | tuple[str, str]],
    factory: sessionmaker[Session],
    *,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Store scene records (one transaction each) and collect the ``(name, reason)`` failures."""
    report = IngestReport()
    for outcome in outcomes:
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
