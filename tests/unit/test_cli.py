"""The torrent-gateway command line as a user meets it: version, help, pipes, --config placement."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from torrent_gateway import __version__

CLI = [sys.executable, "-m", "torrent_gateway.cli"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=os.environ.copy()
    )


def test_version(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"torrent-gateway {__version__}"


def test_help_has_no_rst_backticks(tmp_path: Path) -> None:
    for args in (["--help"], ["serve", "--help"]):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 0 and "usage: torrent-gateway" in result.stdout
        assert "`" not in result.stdout


def test_check_config_into_a_closed_pipe_exits_cleanly(tmp_path: Path) -> None:
    # What `torrent-gateway check-config | head -1` does: the reader leaves after one line.
    child = subprocess.Popen(
        [*CLI, "check-config"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline() == b"{\n"
    child.stdout.close()
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=30) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_config_is_accepted_before_and_after_the_subcommand(tmp_path: Path) -> None:
    config = tmp_path / "custom.yaml"
    config.write_text("storage:\n  path: /srv/custom-data\n")
    for args in (["--config", str(config), "check-config"], ["check-config", "--config", str(config)]):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert '"path": "/srv/custom-data"' in result.stdout


def test_an_unreadable_state_file_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "state.sqlite3").write_bytes(b"this is not a database" * 300)
    result = run("serve", "--data", str(data), "--host", "127.0.0.1", "--port", "0", cwd=tmp_path)
    assert result.returncode == 1
    assert "state store unavailable" in result.stderr and "state.sqlite3" in result.stderr
    assert "Traceback" not in result.stderr
