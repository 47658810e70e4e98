"""The Dockerfile (no Docker engine here to build it): its promises, checked against the repository."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+)$", DOCKERFILE, re.M)]


def test_multi_stage_non_root_with_the_cli_as_entrypoint() -> None:
    stages = instructions("FROM")
    assert len(stages) == 2 and stages[0].endswith("AS build")
    assert instructions("USER") == ["10001:10001"]
    assert json.loads(instructions("ENTRYPOINT")[0]) == ["torrent-gateway"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "torrent-gateway" in scripts


def test_installs_every_extra_from_the_lock_and_sources_that_exist() -> None:
    # Dependencies come only from the hashed lock of every extra; the project adds none of its own.
    assert "--require-hashes" in DOCKERFILE and "-r requirements/runtime.lock" in DOCKERFILE
    assert "pip install --no-deps ." in DOCKERFILE
    for line in instructions("COPY"):
        if line.startswith("--from"):
            continue
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "tests" in ignored and ".git" in ignored


def test_exposes_every_component_port() -> None:
    exposed = " ".join(instructions("EXPOSE"))
    for port in ("9876", "8081", "6969/tcp", "6969/udp", "6882/udp", "8082"):
        assert port in exposed
