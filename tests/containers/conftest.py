"""The image under test, built once per session by the project's own script (podman, no registry)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.minio import minio_server  # noqa: F401 - a fixture these tests use

HERE = Path(__file__).resolve().parent
# podman as it works on these machines (see podman.sh): runc with explicit ulimits.
RUNTIME_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"]
IMAGE = "localhost/torrent-gateway:test"


@dataclass(frozen=True)
class BuiltImage:
    name: str
    build_seconds: int
    size_bytes: int


_built: list[BuiltImage] = []


@pytest.fixture(scope="session")
def image() -> BuiltImage:
    result = subprocess.run(
        ["sh", str(HERE / "build_image.sh")],
        env={**os.environ, "TGW_IMAGE": IMAGE},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, f"image build failed:\n{result.stderr[-6000:]}"
    match = re.search(r"built (\S+) in (\d+) s, (\d+) bytes", result.stdout)
    assert match, result.stdout
    built = BuiltImage(match.group(1), int(match.group(2)), int(match.group(3)))
    _built.append(built)
    return built


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args[:3])} ... failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return result


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for built in _built:
        terminalreporter.write_line(
            f"image {built.name}: built in {built.build_seconds} s, {built.size_bytes / 1e6:.0f} MB"
        )
