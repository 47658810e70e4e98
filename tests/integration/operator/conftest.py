"""Fixtures of the operator's integration tests: the emulated API server, the CRD, the running operator."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

# The operator reads these when its handlers module is imported: short intervals keep the
# timer (drift), dependency and error retries quick enough for tests.
FAST_OPERATOR_ENV = {
    "TGW_OPERATOR_RESYNC_INTERVAL": "1",
    "TGW_OPERATOR_DEPENDENCY_RETRY_DELAY": "0.3",
    "TGW_OPERATOR_ERROR_RETRY_DELAY": "0.5",
    "TGW_OPERATOR_WATCH_TIMEOUT": "60",
    "TGW_OPERATOR_LOG_FORMAT": "plain",
}
for _key, _value in FAST_OPERATOR_ENV.items():
    os.environ[_key] = _value

from .emulator import Api, EmulatorThread  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
CRD_FILE = ROOT / "crds" / "torrentgateways.yaml"
T = TypeVar("T")


def wait_for(
    check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll until ``check`` returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for entry in ((obj or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return entry
    return None


def install_crd(api: Api) -> dict[str, Any]:
    return api.create(yaml.safe_load(CRD_FILE.read_text()))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorThread, Api, Path]]:
    """An emulated API server with the CRD installed through the API, and a kubeconfig for it."""
    with EmulatorThread() as emulator:
        api = Api(emulator.url)
        install_crd(api)
        kubeconfig = emulator.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
        try:
            yield emulator, api, kubeconfig
        finally:
            api.close()


@contextlib.contextmanager
def restored_logging() -> Iterator[None]:
    """kopf's CLI configures the root logger for its run; give the rest of the session its own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@contextlib.contextmanager
def kubeconfig_env(path: Path) -> Iterator[None]:
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous
