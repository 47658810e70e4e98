"""Runs every atheris target for a bounded number of inputs: no crash, no hang, bounded memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS
from tests.support.report import record

RUNS = 3000


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_target_survives(target: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("targets.py")),
            target,
            f"-runs={RUNS}",
            "-max_len=2048",
            "-rss_limit_mb=1024",
            "-timeout=10",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Done {RUNS} runs" in result.stderr
    record("bad_inputs", RUNS)
