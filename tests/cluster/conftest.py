"""The cluster suite's fixtures: a real control plane, kubectl/helm on it, the operator under test.

The suite runs only under ``make test-cluster`` (``TGW_CLUSTER=1``): without it nothing here is
collected, so ``make test`` stays fast and never builds Kubernetes.

The control plane is started afresh by the session (``.cluster/``) and stopped at its end. The operator runs as a subprocess with a kubeconfig
holding a token of the **chart's ServiceAccount** (TokenRequest), so the chart's RBAC is exactly
what it gets.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import ROOT, ClusterState, down, up
from tests.cluster.kube import Kube


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if os.environ.get("TGW_CLUSTER") != "1":
        return True
    return None


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ClusterState]:
    """A fresh control plane per session (it starts in seconds): every run begins from an empty etcd.

    A cluster left by ``make cluster-up`` is replaced; ``TGW_CLUSTER_KEEP=1`` keeps this one running
    afterwards (to look at it with ``.cluster/bin/kubectl``).
    """
    directory = ROOT / ".cluster"
    down(directory)
    state = up(directory)
    try:
        yield state
    finally:
        if os.environ.get("TGW_CLUSTER_KEEP") != "1":
            down(directory)


@pytest.fixture(scope="session")
def kube(control_plane: ClusterState) -> Iterator[Kube]:
    with Kube(control_plane) as client:
        yield client


RELEASE, SYSTEM_NAMESPACE = "tgw", "tgw-system"
OPERATOR_ACCOUNT = f"{RELEASE}-torrent-gateway"
CHART_IMAGE = "registry.example.org/media/torrent-gateway:1.2.3"
# Short intervals so drift, dependency waits and retries show within seconds.
FAST = {
    "TGW_OPERATOR_RESYNC_INTERVAL": "2",
    "TGW_OPERATOR_DEPENDENCY_RETRY_DELAY": "1",
    "TGW_OPERATOR_ERROR_RETRY_DELAY": "1",
}


@pytest.fixture(scope="session")
def release(kube: Kube) -> str:
    """The chart installed by the real helm, with the image set the way the README says."""
    repository, tag = CHART_IMAGE.rsplit(":", 1)
    kube.helm(
        "upgrade", "--install", RELEASE, str(ROOT / "charts" / "torrent-gateway"),
        "-n", SYSTEM_NAMESPACE, "--create-namespace",
        "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
        "--wait", "--timeout", "120s",
    )  # fmt: skip
    return RELEASE


@pytest.fixture(scope="session")
def operator_kubeconfig(kube: Kube, release: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    return kube.service_account_kubeconfig(SYSTEM_NAMESPACE, OPERATOR_ACCOUNT, path)


@pytest.fixture(scope="session")
def operator_env(kube: Kube, release: str) -> dict[str, str]:
    return {**kube.chart_operator_env(SYSTEM_NAMESPACE, OPERATOR_ACCOUNT), **FAST}
