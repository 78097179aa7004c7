"""Classifier manifests; installed as ``fis._resources.models`` (see pyproject.toml)."""
