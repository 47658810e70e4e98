"""Fixtures of the rate-limit unit tests: settings isolated from any local config file, a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from torrent_gateway.config import Settings, load_settings


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
