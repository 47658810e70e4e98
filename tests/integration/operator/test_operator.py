"""The real operator (kopf's KopfRunner, in-process) against the emulated API server.

One operator and one emulator serve the module; each test works in its own namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner
from torrent_gateway_operator import API_VERSION, KIND
from torrent_gateway_operator.builders import plan
from torrent_gateway_operator.spec import parse_spec

from .conftest import condition, kubeconfig_env, restored_logging, wait_for
from .emulator import Api, EmulatorThread

EXTERNAL = {
    "storage": {
        "minio": {"external": {"endpoint": "s3.example.org:9000", "credentialsSecret": {"name": "s3"}}}
    },
    "redis": {"external": {"urlSecret": {"name": "redis"}}},
}
WORKLOAD_KINDS = [
    "Deployment",
    "StatefulSet",
    "Service",
    "ConfigMap",
    "ServiceAccount",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
    "Ingress",
]


@pytest.fixture(scope="module")
def operator(cluster: tuple[EmulatorThread, Api, Path]) -> Iterator[Api]:
    emulator, api, kubeconfig = cluster
    with (
        restored_logging(),
        kubeconfig_env(kubeconfig),
        KopfRunner(
            ["run", "--standalone", "--all-namespaces", "-m", "torrent_gateway_operator.handlers"], timeout=60
        ) as runner,
    ):
        yield api
    assert runner.exit_code == 0, runner.output[-3000:]
    assert runner.exception is None
    assert "Traceback" not in runner.output, runner.output[-6000:]


def create_gateway(api: Api, namespace: str, spec: dict[str, Any], name: str = "demo") -> dict[str, Any]:
    return api.create(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def gateway(api: Api, namespace: str, name: str = "demo") -> dict[str, Any] | None:
    return api.get(KIND, namespace, name)


def expected_children(api: Api, namespace: str, name: str = "demo") -> list[dict[str, Any]]:
    cr = gateway(api, namespace, name)
    assert cr is not None
    meta = {"name": name, "namespace": namespace, "uid": cr["metadata"]["uid"]}
    return plan(parse_spec(cr["spec"]), meta).applied


def all_applied(api: Api, namespace: str, name: str = "demo") -> bool:
    return all(
        api.get(m["kind"], namespace, m["metadata"]["name"]) is not None
        for m in expected_children(api, namespace, name)
    )


def matches(live: dict[str, Any], manifest: dict[str, Any]) -> bool:
    fields = [key for key in manifest if key not in ("apiVersion", "kind", "metadata", "status")]
    meta = live["metadata"]
    return (
        all(live.get(key) == manifest[key] for key in fields)
        and meta.get("ownerReferences") == manifest["metadata"]["ownerReferences"]
        and manifest["metadata"]["labels"].items() <= (meta.get("labels") or {}).items()
    )


def mark_ready(api: Api, namespace: str, workloads: list[tuple[str, str]]) -> None:
    """Play the kubelet and controllers: every pod of these workloads is ready."""
    for kind, name in workloads:
        live = api.get(kind, namespace, name)
        assert live is not None, (kind, name)
        replicas = live["spec"].get("replicas", 1)
        api.patch(
            kind, namespace, name, {"status": {"replicas": replicas, "readyReplicas": replicas}}, status=True
        )


def components(namespace: str) -> list[tuple[str, str]]:
    return [
        ("Deployment", "demo-gateway"),
        ("Deployment", "demo-blossom"),
        ("Deployment", "demo-tracker"),
        ("StatefulSet", "demo-dht"),
    ]


def test_crd_created_through_the_api_is_discoverable_with_a_status_subresource(operator: Api) -> None:
    listing = operator.http.get("/apis/torrentgateway.io/v1alpha1").json()
    names = {r["name"] for r in listing["resources"]}
    assert names == {"torrentgateways", "torrentgateways/status"}


def test_create_applies_every_child_with_owner_references_then_ready(operator: Api) -> None:
    api, ns = operator, "create"
    create_gateway(api, ns, EXTERNAL)
    wait_for(lambda: all_applied(api, ns), what="every child applied")
    for manifest in expected_children(api, ns):
        live = api.get(manifest["kind"], ns, manifest["metadata"]["name"])
        assert live is not None and matches(live, manifest), manifest["metadata"]["name"]
    uid = gateway(api, ns)["metadata"]["uid"]  # type: ignore[index]
    for secret in ("demo-tracker-secret", "demo-nostr-key"):
        generated = api.get("Secret", ns, secret)
        assert generated is not None and generated["metadata"]["ownerReferences"][0]["uid"] == uid
    assert (
        api.get("StatefulSet", ns, "demo-redis") is None and api.get("StatefulSet", ns, "demo-minio") is None
    )

    cr = wait_for(lambda: (c := gateway(api, ns)) and condition(c, "Ready") and c, what="a status")
    assert cr["status"]["observedGeneration"] == 1
    assert condition(cr, "Degraded")["status"] == "False"  # type: ignore[index]
    assert condition(cr, "ObjectStoreReady")["reason"] == "External"  # type: ignore[index]
    assert condition(cr, "Ready")["reason"] == "ComponentsNotReady"  # type: ignore[index]
    assert cr["status"]["url"] == "http://demo-gateway.create.svc:9876"
    assert cr["metadata"]["finalizers"] == ["torrentgateway.io/finalizer"]

    mark_ready(api, ns, components(ns))
    cr = wait_for(
        lambda: (c := gateway(api, ns)) and condition(c, "Ready")["status"] == "True" and c,  # type: ignore[index]
        what="Ready=True",
    )
    assert condition(cr, "Ready")["reason"] == "AllComponentsReady"  # type: ignore[index]
    assert condition(cr, "Progressing")["reason"] == "Complete"  # type: ignore[index]
    assert cr["status"]["components"]["gateway"] == {"replicas": 2, "readyReplicas": 2}


def test_editing_the_resource_changes_and_prunes_children(operator: Api) -> None:
    api, ns = operator, "edit"
    create_gateway(api, ns, EXTERNAL)
    wait_for(lambda: all_applied(api, ns), what="every child applied")
    api.patch(
        KIND,
        ns,
        "demo",
        {"spec": {"gateway": {"replicas": 3}, "blossom": {"enabled": False}, "hls": {"enabled": False}}},
    )
    wait_for(
        lambda: (d := api.get("Deployment", ns, "demo-gateway")) and d["spec"]["replicas"] == 3,
        what="gateway replicas 3",
    )
    wait_for(
        lambda: (
            "demo-blossom"
            not in api.names("Deployment", ns)
            | api.names("Service", ns)
            | api.names("PodDisruptionBudget", ns)
            | api.names("NetworkPolicy", ns)
        ),
        what="Blossom pruned",
    )
    config = api.get("ConfigMap", ns, "demo-config")["data"]["config.yaml"]  # type: ignore[index]
    assert (
        "hls:\n  enabled: false" in config
        and "blossom:\n  allowed_pubkeys: []\n  allowed_types: []\n  enabled: false" in config
    )
    for manifest in expected_children(api, ns):
        live = api.get(manifest["kind"], ns, manifest["metadata"]["name"])
        assert live is not None and matches(live, manifest)
    cr = wait_for(
        lambda: (c := gateway(api, ns)) and c["status"]["observedGeneration"] == 2 and c,
        what="observedGeneration 2",
    )
    assert "blossom" not in cr["status"]["components"]


def test_hand_edits_of_children_are_undone_by_the_timer(operator: Api) -> None:
    api, ns = operator, "drift"
    create_gateway(api, ns, EXTERNAL)
    wait_for(lambda: all_applied(api, ns), what="every child applied")
    original = api.get("ConfigMap", ns, "demo-config")["data"]  # type: ignore[index]
    api.patch("Deployment", ns, "demo-tracker", {"spec": {"replicas": 9}})
    api.patch("ConfigMap", ns, "demo-config", {"data": {"config.yaml": "gateway: {port: 1}\n"}})
    api.delete("Service", ns, "demo-gateway")
    wait_for(
        lambda: api.get("Deployment", ns, "demo-tracker")["spec"]["replicas"] == 2,  # type: ignore[index]
        what="tracker replicas restored",
    )
    wait_for(lambda: api.get("ConfigMap", ns, "demo-config")["data"] == original, what="config restored")
    wait_for(lambda: api.get("Service", ns, "demo-gateway") is not None, what="deleted Service recreated")
    assert api.get("Deployment", ns, "demo-tracker")["spec"]["replicas"] == 2  # type: ignore[index]


def test_managed_dependencies_progress_then_ready_and_secrets_are_never_overwritten(operator: Api) -> None:
    api, ns = operator, "managed"
    # A Secret under a generated name before the resource exists: the operator must keep it.
    api.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "demo-tracker-secret", "namespace": ns},
            "stringData": {"secret": "chosen-by-the-admin"},
        }
    )
    create_gateway(api, ns, {})
    cr = wait_for(lambda: (c := gateway(api, ns)) and condition(c, "Progressing") and c, what="a status")
    assert condition(cr, "Progressing")["reason"] == "WaitingForDependencies"  # type: ignore[index]
    assert condition(cr, "Ready")["status"] == "False"  # type: ignore[index]
    assert condition(cr, "RedisReady")["reason"] == "StatefulSetNotReady"  # type: ignore[index]
    assert condition(cr, "ObjectStoreReady")["status"] == "False"  # type: ignore[index]
    assert api.get("StatefulSet", ns, "demo-redis") and api.get("StatefulSet", ns, "demo-minio")
    assert api.names("Secret", ns) == {
        "demo-minio-credentials",
        "demo-redis-credentials",
        "demo-tracker-secret",
        "demo-nostr-key",
    }
    assert api.get("Deployment", ns, "demo-gateway") is None  # the workloads wait
    password = api.get("Secret", ns, "demo-redis-credentials")["stringData"]["password"]  # type: ignore[index]

    mark_ready(api, ns, [("StatefulSet", "demo-redis")])
    wait_for(lambda: condition(gateway(api, ns), "RedisReady")["status"] == "True", what="RedisReady")  # type: ignore[index]
    assert api.get("Deployment", ns, "demo-gateway") is None  # MinIO is not ready yet
    mark_ready(api, ns, [("StatefulSet", "demo-minio")])
    wait_for(lambda: all_applied(api, ns), what="workloads applied once the dependencies are ready")
    cr = wait_for(
        lambda: (c := gateway(api, ns)) and condition(c, "Progressing")["reason"] == "RollingOut" and c,  # type: ignore[index]
        what="Progressing=RollingOut",
    )
    assert condition(cr, "ObjectStoreReady")["status"] == "True"  # type: ignore[index]

    mark_ready(api, ns, components(ns))
    wait_for(lambda: condition(gateway(api, ns), "Ready")["status"] == "True", what="Ready=True")  # type: ignore[index]
    assert api.get("Secret", ns, "demo-tracker-secret")["stringData"] == {"secret": "chosen-by-the-admin"}  # type: ignore[index]
    assert api.get("Secret", ns, "demo-redis-credentials")["stringData"]["password"] == password  # type: ignore[index]


def test_an_invalid_spec_is_degraded_with_a_reason_and_nothing_is_applied(operator: Api) -> None:
    api, ns = operator, "invalid"
    both = {"storage": {"minio": {"managed": {}, **EXTERNAL["storage"]["minio"]}}, "redis": EXTERNAL["redis"]}
    create_gateway(api, ns, both)
    cr = wait_for(
        lambda: (c := gateway(api, ns)) and condition(c, "Degraded") and c, what="a Degraded condition"
    )
    degraded = condition(cr, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "InvalidSpec"  # type: ignore[index]
    assert "set exactly one of external or managed" in degraded["message"]  # type: ignore[index]
    assert condition(cr, "Ready")["status"] == "False"  # type: ignore[index]
    for kind in [*WORKLOAD_KINDS, "Secret"]:
        assert api.list(kind, ns) == [], kind

    api.patch(KIND, ns, "demo", {"spec": {"storage": {"minio": {"managed": None}}}})
    wait_for(lambda: all_applied(api, ns), what="children once the spec is fixed")
    wait_for(lambda: condition(gateway(api, ns), "Degraded")["status"] == "False", what="Degraded=False")  # type: ignore[index]


def test_deleting_the_resource_removes_children_then_the_finalizer(operator: Api) -> None:
    api, ns = operator, "delete"
    create_gateway(api, ns, EXTERNAL)
    wait_for(lambda: all_applied(api, ns), what="every child applied")
    wait_for(lambda: gateway(api, ns)["metadata"].get("finalizers"), what="the finalizer")  # type: ignore[index]
    api.delete(KIND, ns, "demo")
    wait_for(lambda: gateway(api, ns) is None, what="the resource gone")
    for kind in [*WORKLOAD_KINDS, "Secret"]:
        assert api.list(kind, ns) == [], kind
