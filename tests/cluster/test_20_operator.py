"""The operator on the real control plane, with the chart's ServiceAccount and nothing more.

Every example reaches Ready=True with its children created through the real API (owner
references accepted by the OwnerReferencesPermissionEnforcement admission plugin), and goes away
by the real garbage collector; the chart's image reaches every workload; drift is undone; an HPA
takes over without dropping replicas; an immutable StatefulSet edit is carried out; an image
outside the allow-list is refused with a condition.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest

from tests.cluster.conftest import CHART_IMAGE
from tests.cluster.harness import ROOT
from tests.cluster.kube import Kube, condition, wait_for

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
OWNED_KINDS = [
    ("/api/v1", "configmaps"),
    ("/api/v1", "services"),
    ("/api/v1", "serviceaccounts"),
    ("/api/v1", "secrets"),
    ("/apis/apps/v1", "deployments"),
    ("/apis/apps/v1", "statefulsets"),
    ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
    ("/apis/policy/v1", "poddisruptionbudgets"),
    ("/apis/networking.k8s.io/v1", "networkpolicies"),
    ("/apis/networking.k8s.io/v1", "ingresses"),
]


@pytest.fixture(scope="module")
def operator(kube: Kube, operator_kubeconfig: Path, operator_env: dict[str, str]) -> Iterator[Popen[bytes]]:
    with kube.operator(operator_kubeconfig, operator_env, "operator-main") as proc:
        yield proc


def children(kube: Kube, namespace: str, instance: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for root, plural in OWNED_KINDS:
        for obj in kube.items(
            f"{root}/namespaces/{namespace}/{plural}", labelSelector=f"app.kubernetes.io/instance={instance}"
        ):
            found[(plural, obj["metadata"]["name"])] = obj
    return found


def gateway(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "torrentgateway.io/v1alpha1",
        "kind": "TorrentGateway",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_reaches_ready_with_owned_children_then_is_garbage_collected(
    kube: Kube, operator: Popen[bytes], path: Path
) -> None:
    namespace = f"example-{path.stem}"
    kube.ensure_namespace(namespace)
    docs = kube.apply_file(namespace, path)
    (name,) = [d["metadata"]["name"] for d in docs if d["kind"] == "TorrentGateway"]
    obj = kube.wait_ready(namespace, name, timeout=120)
    uid = obj["metadata"]["uid"]

    owned = children(kube, namespace, name)
    kinds = {plural for plural, _ in owned}
    assert {"configmaps", "services", "deployments", "statefulsets", "serviceaccounts"} <= kinds
    for (plural, child), child_obj in owned.items():
        (ref,) = child_obj["metadata"]["ownerReferences"]
        assert (ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) == (uid, True, True), (
            plural,
            child,
        )
    # One image setting: every Torrent Gateway workload runs the chart's image.
    for (plural, child), child_obj in owned.items():
        if plural in ("deployments", "statefulsets") and not child.endswith(("-minio", "-redis")):
            (container,) = child_obj["spec"]["template"]["spec"]["containers"]
            assert container["image"] == CHART_IMAGE, child
    # Readiness came from the workload controllers' own status (pods Running/Ready on the node).
    for plural, child in owned:
        if plural == "deployments":
            path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{child}"
            wait_for(
                lambda path=path: (
                    (d := kube.get(path)) and d["status"].get("readyReplicas") == d["spec"]["replicas"]
                ),
                30,
                f"{child} ready",
            )

    assert kube.http.delete(kube.gateway_path(namespace, name)).status_code == 200
    wait_for(lambda: kube.gateway(namespace, name) is None, 60, f"{name} deleted (finalizer released)")
    # Secrets are never deleted by the operator: only the garbage collector removes them.
    wait_for(lambda: not children(kube, namespace, name), 90, f"every child of {name} garbage-collected")
    wait_for(
        lambda: (
            not kube.items(
                f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"app.kubernetes.io/instance={name}"
            )
        ),
        90,
        "pods gone",
    )


def test_drift_is_healed(kube: Kube, operator: Popen[bytes]) -> None:
    kube.ensure_namespace("drift")
    assert kube.create_gateway("drift", gateway("drift", {"dht": {"enabled": False}})).status_code == 201
    kube.wait_ready("drift", "drift")
    path = "/apis/apps/v1/namespaces/drift/deployments/drift-gateway"
    kube.kubectl("scale", "-n", "drift", "deployment/drift-gateway", "--replicas=5")
    kube.kubectl(
        "label", "-n", "drift", "configmap/drift-config", "app.kubernetes.io/instance-", "--overwrite"
    )
    wait_for(lambda: kube.get(path)["spec"]["replicas"] == 2, 30, "replicas restored to the spec's 2")  # type: ignore[index]
    wait_for(
        lambda: (
            (kube.get("/api/v1/namespaces/drift/configmaps/drift-config") or {})
            .get("metadata", {})
            .get("labels", {})
            .get("app.kubernetes.io/instance")
            == "drift"
        ),
        30,
        "label restored",
    )


def test_hpa_takes_over_from_the_current_replica_count(kube: Kube, operator: Popen[bytes]) -> None:
    kube.ensure_namespace("hpa")
    spec = {"gateway": {"replicas": 3}, "dht": {"enabled": False}}
    assert kube.create_gateway("hpa", gateway("hpa", spec)).status_code == 201
    kube.wait_ready("hpa", "hpa")
    path = "/apis/apps/v1/namespaces/hpa/deployments/hpa-gateway"
    assert kube.get(path)["spec"]["replicas"] == 3  # type: ignore[index]
    kube.patch_gateway(
        "hpa",
        "hpa",
        {"spec": {"gateway": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 10}}}},
    )
    wait_for(
        lambda: kube.get("/apis/autoscaling/v2/namespaces/hpa/horizontalpodautoscalers/hpa-gateway"),
        30,
        "HPA",
    )
    kube.wait_ready("hpa", "hpa")
    # Several resyncs later the count is still the one the HPA took over (the old code fell to 1).
    for _ in range(8):
        live = kube.get(path)
        assert live is not None and live["spec"]["replicas"] == 3, live["spec"] if live else None
        managers = {entry["manager"] for entry in live["metadata"]["managedFields"]}
        assert "torrent-gateway-operator" in managers
        time.sleep(1)


def test_immutable_statefulset_edit_recreates_it_and_applies_the_rest(
    kube: Kube, operator: Popen[bytes]
) -> None:
    kube.ensure_namespace("immutable")
    assert (
        kube.create_gateway(
            "immutable", gateway("dht", {"dht": {"persistence": {"enabled": False}}})
        ).status_code
        == 201
    )
    kube.wait_ready("immutable", "dht")
    path = "/apis/apps/v1/namespaces/immutable/statefulsets/dht-dht"
    before = kube.get(path)
    assert before is not None and "volumeClaimTemplates" not in before["spec"]
    kube.patch_gateway(
        "immutable",
        "dht",
        {"spec": {"dht": {"persistence": {"enabled": True, "size": "3Gi"}}, "gateway": {"replicas": 4}}},
    )
    after = wait_for(
        lambda: (sts := kube.get(path)) and sts.get("spec", {}).get("volumeClaimTemplates") and sts,
        60,
        "StatefulSet recreated with a volume claim template",
    )
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert after["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "3Gi"
    # …and the other children were applied too.
    wait_for(
        lambda: (
            kube.get("/apis/apps/v1/namespaces/immutable/deployments/dht-gateway")["spec"]["replicas"] == 4
        ),  # type: ignore[index]
        30,
        "gateway scaled in the same pass",
    )
    obj = kube.wait_ready("immutable", "dht", timeout=60)
    assert condition(obj, "Degraded")["status"] == "False"  # type: ignore[index]


def test_image_outside_the_allow_list_is_refused_with_a_condition(kube: Kube, operator: Popen[bytes]) -> None:
    kube.ensure_namespace("deputy")
    spec = {"image": {"repository": "evil.example/miner", "tag": "1"}}
    assert kube.create_gateway("deputy", gateway("deputy", spec)).status_code == 201
    degraded = wait_for(
        lambda: (
            (c := condition(kube.gateway("deputy", "deputy"), "Degraded")) and c["status"] == "True" and c
        ),
        30,
        "Degraded condition",
    )
    assert degraded["reason"] == "InvalidSpec"
    assert "allow-list" in degraded["message"] and "evil.example/miner" in degraded["message"]
    assert not kube.items("/apis/apps/v1/namespaces/deputy/deployments")
    assert not kube.items("/apis/apps/v1/namespaces/deputy/statefulsets")


def test_the_chart_rbac_is_what_the_operator_has(kube: Kube, operator_kubeconfig: Path) -> None:
    env_kubectl = ["--kubeconfig", str(operator_kubeconfig)]
    can = kube.kubectl(
        *env_kubectl,
        "auth",
        "can-i",
        "update",
        "torrentgateways.torrentgateway.io",
        "--subresource=finalizers",
        "-A",
        check=False,
    )
    assert can.stdout.strip() == "yes"
    cannot = kube.kubectl(*env_kubectl, "auth", "can-i", "get", "secrets", "-n", "default", check=False)
    assert cannot.stdout.strip() == "no"  # Secrets are create-only
