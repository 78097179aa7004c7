"""Fuzzing with schemathesis against the served OpenAPI document (the app in-process, through WSGI).

Bounded (FIS_FUZZ_EXAMPLES examples per operation, default 25): no response may be a 5xx, and every
response must conform to the document (status code, content type, headers, body schema).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi import checks as openapi_checks  # noqa: E402

from fis.config import Settings  # noqa: E402

pytestmark = pytest.mark.fuzz
#: No 5xx, and status code, content type, headers and body as documented. (Not "schema-valid data is accepted":
#: the document cannot express every rule of the validator, e.g. that "from" is a date.)
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
EXAMPLES = int(os.environ.get("FIS_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fis.api.app import create_app
    from fis.store.db import upgrade

    root: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings(data_dir=root, database_url=f"sqlite:///{root / 'fis.sqlite'}", rate_limit=""))
    upgrade(app.extensions["fis"].db)
    yield app
    app.extensions["fis"].close()


def test_api_conforms_to_its_document(fuzz_app: Any) -> None:
    from hypothesis import given

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        check()
