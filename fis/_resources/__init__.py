"""Data files shipped inside the package: the Alembic migrations and the classifier manifests.

In the repository they live in the top-level ``migrations/`` and ``models/`` folders. pyproject.toml maps those
folders to the subpackages ``fis._resources.migrations`` and ``fis._resources.models`` (setuptools ``package-dir``),
so an editable install and a wheel both find them through :mod:`importlib.resources`.
"""
