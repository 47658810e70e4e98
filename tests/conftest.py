"""Fixtures shared by every suite: a real redis-server and a real MinIO on loopback, temp data dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.support.minio import MinioServer, minio_server  # noqa: F401 - a fixture of every suite
from tests.support.report import summary_line
from tests.support.servers import RedisServer, run_redis_server

# The test command is reproducible: every property test and the schemathesis run draw the same
# examples each time. `TGW_HYPOTHESIS_PROFILE=explore` draws fresh random ones (and more of them).
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("TGW_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with run_redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(minio_server: MinioServer) -> MinioServer:  # noqa: F811 - the fixture imported above
    """The S3 server of every test that needs one: the real MinIO users run (outages are made by
    stopping and starting it)."""
    return minio_server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line of reliability figures (faults, bad inputs, load, bytes verified) when those tests ran."""
    line = summary_line()
    if line:
        terminalreporter.write_line(line)
