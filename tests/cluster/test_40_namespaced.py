"""Namespaced mode: a second release watching one namespace gets Roles only, and works with them."""

from __future__ import annotations

from pathlib import Path

from tests.cluster.conftest import CHART_IMAGE, FAST
from tests.cluster.harness import ROOT
from tests.cluster.kube import Kube, wait_for


def test_namespaced_release_has_roles_only_and_reconciles_its_namespace(
    kube: Kube, release: str, tmp_path: Path
) -> None:
    kube.ensure_namespace("team")
    kube.ensure_namespace("elsewhere")
    repository, tag = CHART_IMAGE.rsplit(":", 1)
    kube.helm(
        "install", "team", str(ROOT / "charts" / "torrent-gateway"), "-n", "team-ops", "--create-namespace",
        "--set", "operator.watchNamespaces={team}", "--set", "crds.enabled=false",
        "--set", f"image.repository={repository}", "--set", f"image.tag={tag}", "--wait", "--timeout", "120s",
    )  # fmt: skip
    try:
        selector = "app.kubernetes.io/instance=team"
        assert not kube.items("/apis/rbac.authorization.k8s.io/v1/clusterroles", labelSelector=selector)
        assert not kube.items(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", labelSelector=selector
        )
        assert kube.items("/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles", labelSelector=selector)

        kubeconfig = kube.service_account_kubeconfig(
            "team-ops", "team-torrent-gateway", tmp_path / "kubeconfig"
        )
        as_operator = ["--kubeconfig", str(kubeconfig), "auth", "can-i"]
        assert (
            kube.kubectl(*as_operator, "create", "deployments", "-n", "team", check=False).stdout.strip()
            == "yes"
        )
        assert (
            kube.kubectl(*as_operator, "create", "deployments", "-n", "elsewhere", check=False).stdout.strip()
            == "no"
        )
        assert (
            kube.kubectl(
                *as_operator, "list", "torrentgateways.torrentgateway.io", "-A", check=False
            ).stdout.strip()
            == "no"
        )

        env = {**kube.chart_operator_env("team-ops", "team-torrent-gateway"), **FAST}
        with kube.operator(kubeconfig, env, "operator-namespaced"):
            body = {
                "apiVersion": "torrentgateway.io/v1alpha1",
                "kind": "TorrentGateway",
                "metadata": {"name": "scoped"},
                "spec": {"dht": {"enabled": False}},
            }
            assert kube.create_gateway("team", body).status_code == 201
            kube.wait_ready("team", "scoped")
            assert kube.http.delete(kube.gateway_path("team", "scoped")).status_code == 200
            wait_for(lambda: kube.gateway("team", "scoped") is None, 60, "scoped deleted")
    finally:
        kube.helm("uninstall", "team", "-n", "team-ops", "--wait", check=False)
