"""Packaging: the wheel lists every package, and the shipped data folders are found as package resources."""

from __future__ import annotations

import json
import tomllib
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

from fis.engine.clouds import MODELS_DIR
from fis.store.db import MIGRATIONS_DIR

ROOT = Path(__file__).resolve().parents[1]


def _setuptools_config() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config


def test_every_package_under_fis_is_listed_for_the_wheel() -> None:
    config = _setuptools_config()
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "fis").rglob("__init__.py")}
    mapped = config["package-dir"]
    assert mapped == {"fis._resources.migrations": "migrations", "fis._resources.models": "models"}
    assert set(config["packages"]) == on_disk | set(mapped) | {"fis._resources.migrations.versions"}


def test_data_folders_resolve_to_this_checkout() -> None:
    # an editable install maps fis._resources.* to the top-level folders; a stale install of another checkout
    # (e.g. PYTHONPATH pointing at a worktree, the venv at another) would resolve elsewhere
    assert MIGRATIONS_DIR == ROOT / "migrations", f"migrations found in {MIGRATIONS_DIR}; reinstall: pip install -e ."
    assert MODELS_DIR == ROOT / "models", f"manifests found in {MODELS_DIR}; reinstall: pip install -e ."
    assert (MIGRATIONS_DIR / "env.py").is_file() and (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    assert (MODELS_DIR / "s2cloudless-v0.1.json").is_file()


def test_manifest_names_the_licence_of_the_installed_weights_package() -> None:
    manifest = json.loads((MODELS_DIR / "s2cloudless-v0.1.json").read_text())
    weights = distribution(manifest["weights"]["package"])
    licence_files = [f for f in weights.files or () if f.name.upper().startswith("LICENSE")]
    assert licence_files, "s2cloudless ships no licence file"
    text = licence_files[0].read_text()
    assert "Attribution-ShareAlike 4.0 International" in text
    assert manifest["licence"].startswith("CC-BY-SA-4.0 ")
