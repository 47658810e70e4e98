"""What the schemathesis suites share: a serve composition with a file to find, its OpenAPI schema
as a fixture, and the example budget (``TGW_SCHEMA_EXAMPLES`` overrides each suite's default)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.support.gateway import RunningGateway, running_gateway

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def schema_gateway(data_dir: Path, seed_name: str, seed: bytes, **sections: Any) -> Iterator[RunningGateway]:
    """The whole serve composition (gateway, auth, users, admin, Blossom, tracker, ...), as users
    run it, with small storage limits and one file uploaded: known hashes make the generated
    requests reach the interesting paths."""
    with running_gateway(
        data_dir,
        serve=True,
        storage={"blob_threshold": 100_000, "chunk_size": 16384, "max_file_size": 2_000_000},
        **sections,
    ) as running:
        httpx.put(f"{running.url}/api/upload", params={"name": seed_name}, content=seed)
        yield running


@pytest.fixture(scope="module")
def api_schema(gateway: RunningGateway) -> schemathesis.BaseSchema:
    """The schema of the module's ``gateway`` fixture, as it serves it."""
    return schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")


def schema_examples(default: int) -> Callable[[F], F]:
    """Hypothesis settings of a schemathesis test: ``default`` examples unless
    ``TGW_SCHEMA_EXAMPLES`` says otherwise, no deadline, no health checks (the server is real)."""
    return settings(  # type: ignore[no-any-return]
        max_examples=int(os.environ.get("TGW_SCHEMA_EXAMPLES", str(default))),
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
