"""helm upgrade keeps TorrentGateways and their generated Secrets; helm uninstall with TorrentGateways
present finishes in under a minute and leaves only the kept CRD (and the users' own objects)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.cluster.conftest import OPERATOR_ACCOUNT, RELEASE, SYSTEM_NAMESPACE
from tests.cluster.harness import ROOT
from tests.cluster.kube import Kube, wait_for


def test_upgrade_keeps_resources_and_secrets_then_uninstall_is_quick_and_clean(
    kube: Kube, release: str, operator_kubeconfig: Path, operator_env: dict[str, str]
) -> None:
    kube.ensure_namespace("lifecycle")
    operator = kube.start_operator(operator_kubeconfig, operator_env, "operator-lifecycle")
    body = {
        "apiVersion": "torrentgateway.io/v1alpha1",
        "kind": "TorrentGateway",
        "metadata": {"name": "keep"},
        "spec": {"dht": {"enabled": False}},
    }
    assert kube.create_gateway("lifecycle", body).status_code == 201
    before = kube.wait_ready("lifecycle", "keep")
    secret_path = "/api/v1/namespaces/lifecycle/secrets/keep-redis-credentials"
    secret = kube.get(secret_path)
    assert secret is not None

    kube.helm(
        "upgrade", RELEASE, str(ROOT / "charts" / "torrent-gateway"), "-n", SYSTEM_NAMESPACE,
        "--reuse-values", "--set", "operator.resyncInterval=30", "--wait", "--timeout", "120s",
    )  # fmt: skip
    time.sleep(3)
    after = kube.gateway("lifecycle", "keep")
    assert after is not None and after["metadata"]["uid"] == before["metadata"]["uid"]
    kept = kube.get(secret_path)
    assert kept is not None and kept["metadata"]["uid"] == secret["metadata"]["uid"]
    assert kept["data"] == secret["data"]

    started = time.monotonic()
    kube.helm("uninstall", RELEASE, "-n", SYSTEM_NAMESPACE, "--wait", "--timeout", "60s")
    kube.stop_operator(operator)  # the chart's operator pod is gone: so is ours
    took = time.monotonic() - started
    assert took < 60, took
    print(f"helm uninstall with a TorrentGateway present: {took:.1f}s")

    selector = f"app.kubernetes.io/instance={RELEASE}"
    for path in (
        f"/apis/apps/v1/namespaces/{SYSTEM_NAMESPACE}/deployments",
        f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/serviceaccounts",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{SYSTEM_NAMESPACE}/roles",
        f"/apis/coordination.k8s.io/v1/namespaces/{SYSTEM_NAMESPACE}/leases",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    ):
        assert not kube.items(path, labelSelector=selector), path
    assert (
        kube.get(f"/apis/coordination.k8s.io/v1/namespaces/{SYSTEM_NAMESPACE}/leases/{OPERATOR_ACCOUNT}")
        is None
    )
    wait_for(lambda: not kube.items(f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/pods"), 30, "operator pods gone")
    assert kube.get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/torrentgateways.torrentgateway.io"
    )
    assert kube.gateway("lifecycle", "keep") is not None  # the users' objects are theirs
