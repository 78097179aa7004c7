"""Settings from the environment reach the parts they configure."""

from __future__ import annotations

import pytest
from rasterio.env import getenv

from fis.config import Settings
from fis.errors import InvalidInput
from fis.services.runtime import Services


def test_gdal_cache_setting_reaches_the_engine_read_threads(tmp_path) -> None:
    settings = Settings.from_env({"FIS_GDAL_CACHEMAX_MB": "96", "FIS_DATA_DIR": str(tmp_path)})
    assert settings.gdal_cachemax_mb == 96
    engine = Services.create(settings).engine
    # every read thread runs inside one lasting GDAL environment with that block cache
    seen = {engine._pool.submit(lambda: getenv()["GDAL_CACHEMAX"]).result() for _ in range(8)}
    assert seen == {96}


def test_default_gdal_cache_is_64_mb() -> None:
    assert Settings.from_env({}).gdal_cachemax_mb == 64


def test_a_bad_gdal_cache_value_names_the_variable() -> None:
    with pytest.raises(InvalidInput, match="FIS_GDAL_CACHEMAX_MB"):
        Settings.from_env({"FIS_GDAL_CACHEMAX_MB": "lots"})
