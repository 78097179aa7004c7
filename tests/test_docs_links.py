"""Every relative link in README.md, CHANGELOG.md and docs/ points to an existing file (and heading)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCED = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCED.sub("", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def links(path: Path) -> list[str]:
    text = INLINE_CODE.sub("", FENCED.sub("", path.read_text()))
    return [m.group(1) for m in LINK.finditer(text)]


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def broken(path: Path) -> list[str]:
    problems = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{target}: {_shown(resolved)} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading '#{anchor}' in {_shown(resolved)}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_relative_links_resolve(path: Path) -> None:
    assert broken(path) == []


def test_slugs_follow_github() -> None:
    assert slug("Incremental series: reuse and `POST /api/v1/timeseries/{series_id}/refresh`") == (
        "incremental-series-reuse-and-post-apiv1timeseriesseries_idrefresh")
    assert slug("Reading remote rasters (GDAL configuration)") == "reading-remote-rasters-gdal-configuration"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("# Title\n[ok](#title) [bad](missing.md) [bad anchor](x.md#nope) `[code](no.md)`\n")
    assert [p.split(":")[0] for p in broken(doc)] == ["missing.md", "x.md#nope"]


#: named in the docs but not in this repository (the weights inside the installed s2cloudless package)
ELSEWHERE = {"models/pixel_s2_cloud_detector_lightGBM_v0.1.txt"}
CODE_PATH = re.compile(r"`((?:fis|tests|benchmarks|scripts|examples|migrations|models)/[\w/.-]*\w)[ `]")


@pytest.mark.parametrize("path", [p for p in DOCS if p.name != "CHANGELOG.md"],
                         ids=[p.relative_to(ROOT).as_posix() for p in DOCS if p.name != "CHANGELOG.md"])
def test_code_paths_named_in_the_docs_exist(path: Path) -> None:
    """A module or file named in backticks (`fis/engine/raster.py`) exists: docs follow code moves."""
    missing = sorted({m.group(1) for m in CODE_PATH.finditer(path.read_text())
                      if "<" not in m.group(1) and m.group(1) not in ELSEWHERE and not (ROOT / m.group(1)).exists()})
    assert missing == []


DOTTED = re.compile(r"`(fis(?:\.\w+)+)")


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("path", [p for p in DOCS if p.name != "CHANGELOG.md"],
                         ids=[p.relative_to(ROOT).as_posix() for p in DOCS if p.name != "CHANGELOG.md"])
def test_dotted_names_in_the_docs_exist(path: Path) -> None:
    """`fis.engine.cloudlayers.write_layers` and the like name a real module (and attribute)."""
    assert sorted({m.group(1) for m in DOTTED.finditer(path.read_text()) if not _resolves(m.group(1))}) == []


def test_stale_names_are_found() -> None:
    assert _resolves("fis.engine.raster") and _resolves("fis.store.orm.GeometryType")
    assert not _resolves("fis.timeseries") and not _resolves("fis.core.bands.no_such_name")
