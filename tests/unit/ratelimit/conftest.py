"""Fixtures of the rate-limit unit tests: settings isolated from any local config file, a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from torrent_gateway.config import Settings, load_settings

from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings from the defaults plus ``overrides`` (never from ./configs/config.yaml)."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")

    def build(**overrides: Any) -> Settings:
        return load_settings(empty, **overrides)

    return build
