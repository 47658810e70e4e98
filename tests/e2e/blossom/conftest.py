"""Node-side Blossom clients (nostr-tools, blossom-client-sdk) installed on demand in tests/js/blossom."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).resolve().parents[2] / "js" / "blossom"
NPM_INSTALL = ["npm", "install", "--no-audit", "--no-fund", "--silent"]


@pytest.fixture(scope="session")
def blossom_js() -> Path:
    """tests/js/blossom with its node_modules (``npm install`` there when they are missing)."""
    assert shutil.which("node"), "node is required for the Blossom client tests (make system-deps)"
    wanted = [
        JS_DIR / "node_modules" / name / "package.json" for name in ("nostr-tools", "blossom-client-sdk")
    ]
    if not all(path.exists() for path in wanted):
        subprocess.run(NPM_INSTALL, cwd=JS_DIR, check=True, timeout=300)
    return JS_DIR


def run_js(js_dir: Path, command: dict[str, Any], timeout: float = 60) -> Any:
    """Run client.mjs with one JSON command; its JSON answer, or a failure showing node's stderr."""
    done = subprocess.run(
        ["node", "client.mjs"],
        cwd=js_dir,
        input=json.dumps(command),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"node client failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)
