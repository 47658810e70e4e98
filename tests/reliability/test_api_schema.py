"""Schemathesis drives the gateway's own OpenAPI schema: no 5xx, no response outside the schema."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.support.gateway import RunningGateway
from tests.support.report import record
from tests.support.schema import (  # api_schema: the fixture schemathesis.from_fixture names
    api_schema,  # noqa: F401
    schema_examples,
    schema_gateway,
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with schema_gateway(tmp_path_factory.mktemp("schema"), "seed.bin", os.urandom(150_000)) as running:
        yield running


schema = schemathesis.pytest.from_fixture("api_schema")


# The test command draws a fixed sample (the "ci" profile in tests/conftest.py); a wider random
# exploration is `TGW_SCHEMA_EXAMPLES=600 TGW_HYPOTHESIS_PROFILE=explore pytest tests/reliability/test_api_schema.py`.
@schema.parametrize()
@schema_examples(25)
def test_gateway_api_conforms(case: schemathesis.Case) -> None:
    response = case.call(timeout=30)
    record("bad_inputs")
    case.validate_response(response, checks=(not_a_server_error, status_code_conformance))


def test_schema_covers_the_public_routes(gateway: RunningGateway) -> None:
    import httpx

    paths = httpx.get(f"{gateway.url}/openapi.json").json()["paths"]
    for path in ("/api/upload", "/api/files/{sha256}", "/api/download/{sha256}", "/api/torrent/{sha256}"):
        assert path in paths
