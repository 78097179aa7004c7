"""The OpenAPI document (placeholder until the full description lands)."""

from __future__ import annotations

from typing import Any

from fis import __version__


def build_spec(*, server_url: str) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "fis", "version": __version__}, "servers": [{"url": server_url}], "paths": {}}
