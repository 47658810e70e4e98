"""Fixtures of the rate-limit integration tests: isolated settings, a fake clock, a private Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from torrent_gateway.config import Settings, load_settings

from tests.support.clock import FakeClock
from tests.support.servers import RedisServer, run_redis_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings from the defaults plus ``overrides`` (never from ./configs/config.yaml)."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")

    def build(**overrides: Any) -> Settings:
        overrides.setdefault("storage", {"path": str(tmp_path / "data")})
        overrides.setdefault("dht", {"enabled": False})
        return load_settings(empty, **overrides)

    return build


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, which it may kill and restart."""
    with run_redis_server() as server:
        yield server
