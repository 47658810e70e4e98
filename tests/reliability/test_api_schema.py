"""Schemathesis drives the gateway's own OpenAPI schema: no 5xx, no response outside the schema."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.support.gateway import RunningGateway, running_gateway
from tests.support.report import record


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    # The whole serve composition (gateway, auth, users, admin, Blossom, tracker, ...), as users run it.
    with running_gateway(
        tmp_path_factory.mktemp("schema"),
        serve=True,
        storage={"blob_threshold": 100_000, "chunk_size": 16384, "max_file_size": 2_000_000},
    ) as running:
        import httpx

        # Something to find: known hashes make the generated requests reach the interesting paths.
        httpx.put(f"{running.url}/api/upload?name=seed.bin", content=os.urandom(150_000))
        yield running


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(gateway: RunningGateway) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")


# The test command draws a fixed sample (the "ci" profile in tests/conftest.py); a wider random
# exploration is `TGW_SCHEMA_EXAMPLES=600 TGW_HYPOTHESIS_PROFILE=explore pytest tests/reliability/test_api_schema.py`.
@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("TGW_SCHEMA_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_gateway_api_conforms(case: schemathesis.Case) -> None:
    response = case.call(timeout=30)
    record("bad_inputs")
    case.validate_response(response, checks=(not_a_server_error, status_code_conformance))


def test_schema_covers_the_public_routes(gateway: RunningGateway) -> None:
    import httpx

    paths = httpx.get(f"{gateway.url}/openapi.json").json()["paths"]
    for path in ("/api/upload", "/api/files/{sha256}", "/api/download/{sha256}", "/api/torrent/{sha256}"):
        assert path in paths
