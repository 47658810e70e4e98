"""The pure builders: every child manifest is valid Kubernetes (1.29–1.33, strict) and says what the spec says."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from torrent_gateway_operator import API_VERSION, KIND
from torrent_gateway_operator.builders import (
    CHECKSUM_ANNOTATION,
    SECP256K1_ORDER,
    build_deployment,
    build_generated_secrets,
    component_workloads,
    generate_nostr_key,
    plan,
)
from torrent_gateway_operator.config_render import CONFIG_KEY
from torrent_gateway_operator.spec import parse_spec

from .kubeschema import VERSIONS, errors

ROOT = Path(__file__).resolve().parents[3]
META = {"name": "demo", "namespace": "media", "uid": "0b9d2f7e-5f43-4c1e-9a55-3d1f1e0c7a10"}


def example_spec(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / name).read_text()) if d and d["kind"] == KIND]
    return docs[0].get("spec") or {}


SPECS: dict[str, dict[str, Any]] = {
    "minimal": example_spec("minimal.yaml"),
    "full": example_spec("full.yaml"),
    "external-storage": example_spec("external-storage.yaml"),
    "managed-storage": example_spec("managed-storage.yaml"),
    "dht-hostport-no-blossom": {
        "blossom": {"enabled": False},
        "dht": {"replicas": 2, "exposure": {"type": "HostPort"}},
        "redis": {"managed": {"persistence": {"enabled": False}}},
    },
    "dht-nodeport-no-tracker-no-policies": {
        "tracker": {"enabled": False},
        "dht": {"replicas": 3, "exposure": {"type": "NodePort"}, "persistence": {"enabled": True}},
        "networkPolicy": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "ingress": {"enabled": True, "host": "gw.example.org"},
    },
    "nothing-but-the-gateway": {
        "blossom": {"enabled": False},
        "tracker": {"enabled": False},
        "dht": {"enabled": False},
        "image": {"pullSecrets": ["registry"]},
    },
}


_COUNTER = itertools.count(1)


def counter_token(n: int) -> str:
    """A deterministic token source: distinct, recognisable values of the asked length."""
    return f"{next(_COUNTER):0{2 * n}x}"


def children(spec: dict[str, Any]) -> list[dict[str, Any]]:
    the_plan = plan(parse_spec(spec), META)
    return [*the_plan.secrets, *the_plan.applied]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_manifest_passes_strict_kubernetes_validation(name: str) -> None:
    problems = [
        e for manifest in children(SPECS[name]) for version in VERSIONS for e in errors(manifest, version)
    ]
    assert problems == []


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_child_is_owned_labelled_and_well_named(name: str) -> None:
    for manifest in children(SPECS[name]):
        meta = manifest["metadata"]
        assert meta["namespace"] == "media"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": "demo",
                "uid": META["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"]["app.kubernetes.io/instance"] == "demo"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "torrent-gateway-operator"
        assert len(meta["name"]) <= 63


def _pods(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["spec"]["template"]["spec"] for m in manifests if m["kind"] in ("Deployment", "StatefulSet")]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_container_is_non_root_read_only_probed_and_sized(name: str) -> None:
    for pod in _pods(children(SPECS[name])):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert container["livenessProbe"] and container["readinessProbe"]
            assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts  # writable scratch space despite the read-only root


def test_workload_pods_run_the_component_subcommand_with_http_probes() -> None:
    manifests = children(SPECS["minimal"])
    ports = {"gateway": 9876, "blossom": 8081, "tracker": 6969, "dht": 8082}
    for manifest in manifests:
        component = manifest["metadata"]["labels"].get("app.kubernetes.io/component")
        if manifest["kind"] not in ("Deployment", "StatefulSet") or component not in ports:
            continue
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [component]
        http = next(p for p in container["ports"] if p["name"] == "http")
        assert http["containerPort"] == ports[component]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["port"] == "http"
        checksum = manifest["spec"]["template"]["metadata"]["annotations"][CHECKSUM_ANNOTATION]
        assert len(checksum) == 64


def test_plan_orders_dependencies_before_workloads_and_waits_for_them() -> None:
    the_plan = plan(parse_spec(SPECS["minimal"]), META)
    assert [(m["kind"], m["metadata"]["name"]) for m in the_plan.dependencies][:1] == [
        ("ServiceAccount", "demo")
    ]
    assert ("StatefulSet", "demo-redis") in {
        (m["kind"], m["metadata"]["name"]) for m in the_plan.dependencies
    }
    assert ("StatefulSet", "demo-minio") in {
        (m["kind"], m["metadata"]["name"]) for m in the_plan.dependencies
    }
    assert the_plan.workloads[0]["kind"] == "ConfigMap"
    assert {(w.condition, w.statefulset, w.replicas) for w in the_plan.waits} == {
        ("RedisReady", "demo-redis", 1),
        ("ObjectStoreReady", "demo-minio", 1),
    }


def test_external_storage_runs_no_minio_or_redis_and_uses_the_users_secrets() -> None:
    the_plan = plan(parse_spec(SPECS["external-storage"]), META)
    names = {m["metadata"]["name"] for m in [*the_plan.secrets, *the_plan.applied]}
    assert not {n for n in names if "minio" in n or "redis" in n}
    assert the_plan.waits == []
    env = {
        e["name"]: e
        for e in build_deployment(parse_spec(SPECS["external-storage"]), META, "gateway")["spec"]["template"][
            "spec"
        ]["containers"][0]["env"]
    }
    assert env["TGW_STORAGE__S3__ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "s3-credentials",
        "key": "access-key",
    }
    assert env["TGW_STATE__REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "redis-url", "key": "url"}


def test_autoscaled_deployments_leave_replicas_to_the_hpa() -> None:
    spec = parse_spec(SPECS["full"])
    manifests = {(m["kind"], m["metadata"]["name"]): m for m in plan(spec, {**META, "name": "media"}).applied}
    assert "replicas" not in manifests[("Deployment", "media-gateway")]["spec"]
    hpa = manifests[("HorizontalPodAutoscaler", "media-gateway")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert manifests[("Deployment", "media-tracker")]["spec"]["replicas"] == 3  # not autoscaled


def test_distributed_minio_lists_every_pod_and_gets_a_pdb() -> None:
    manifests = {
        (m["kind"], m["metadata"]["name"]): m
        for m in plan(parse_spec(SPECS["full"]), {**META, "name": "media"}).applied
    }
    minio = manifests[("StatefulSet", "media-minio")]["spec"]
    assert minio["replicas"] == 4 and minio["podManagementPolicy"] == "Parallel"
    assert minio["template"]["spec"]["containers"][0]["args"][:2] == [
        "server",
        "http://media-minio-{0...3}.media-minio-hl.media.svc/data",
    ]
    assert "storageClassName" not in minio["volumeClaimTemplates"][0]["spec"]  # the cluster's default
    assert ("PodDisruptionBudget", "media-minio") in manifests
    assert manifests[("Service", "media-minio-hl")]["spec"]["publishNotReadyAddresses"] is True


def test_tracker_exposes_udp_only_with_a_public_url_and_keeps_client_addresses() -> None:
    full = {
        (m["kind"], m["metadata"]["name"]): m
        for m in plan(parse_spec(SPECS["full"]), {**META, "name": "media"}).applied
    }
    # A LoadBalancer gets one Service per protocol: many clouds refuse mixed ones.
    for name, protocol in (("media-tracker", "TCP"), ("media-tracker-udp", "UDP")):
        service = full[("Service", name)]["spec"]
        assert service["type"] == "LoadBalancer" and service["externalTrafficPolicy"] == "Local"
        assert {(p["port"], p["protocol"]) for p in service["ports"]} == {(6969, protocol)}
    for kind, name in full:
        if kind == "Service" and full[(kind, name)]["spec"].get("type") == "LoadBalancer":
            assert len({p["protocol"] for p in full[(kind, name)]["spec"]["ports"]}) == 1, name
    minimal = {(m["kind"], m["metadata"]["name"]): m for m in plan(parse_spec({}), META).applied}
    assert [p["protocol"] for p in minimal[("Service", "demo-tracker")]["spec"]["ports"]] == ["TCP"]


def test_dht_exposure_per_pod_services_or_host_ports() -> None:
    nodeport = plan(parse_spec(SPECS["dht-nodeport-no-tracker-no-policies"]), META).applied
    per_pod = [
        m for m in nodeport if m["kind"] == "Service" and m["metadata"]["name"].startswith("demo-dht-")
    ]
    assert [m["metadata"]["name"] for m in per_pod] == ["demo-dht-0", "demo-dht-1", "demo-dht-2"]
    assert per_pod[1]["spec"]["selector"]["statefulset.kubernetes.io/pod-name"] == "demo-dht-1"
    hostport = plan(parse_spec(SPECS["dht-hostport-no-blossom"]), META).applied
    (dht,) = [m for m in hostport if m["kind"] == "StatefulSet" and m["metadata"]["name"] == "demo-dht"]
    pod = dht["spec"]["template"]["spec"]
    assert {p["name"]: p.get("hostPort") for p in pod["containers"][0]["ports"]} == {
        "http": None,
        "dht": 6882,
        "peer": 6881,
        "peer-utp": 6881,
    }
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    shard = next(e for e in pod["containers"][0]["env"] if e["name"] == "TGW_DHT__SHARD_INDEX")
    assert shard["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"


def test_ingress_routes_api_tracker_and_blossom_hosts_with_tls() -> None:
    manifests = plan(parse_spec(SPECS["full"]), {**META, "name": "media"}).applied
    (ingress,) = [m for m in manifests if m["kind"] == "Ingress"]
    rules = {
        r["host"]: {p["path"]: p["backend"]["service"]["name"] for p in r["http"]["paths"]}
        for r in ingress["spec"]["rules"]
    }
    assert rules == {
        "media.example.org": {"/announce": "media-tracker", "/scrape": "media-tracker", "/": "media-gateway"},
        "blossom.media.example.org": {"/": "media-blossom"},
    }
    assert ingress["spec"]["tls"] == [
        {"hosts": ["media.example.org", "blossom.media.example.org"], "secretName": "media-tls"}
    ]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


def test_disabled_components_and_toggles_leave_no_children() -> None:
    kinds = {
        (m["kind"], m["metadata"]["name"])
        for m in plan(parse_spec(SPECS["nothing-but-the-gateway"]), META).applied
    }
    assert not {k for k in kinds if k[1] in ("demo-blossom", "demo-tracker", "demo-dht")}
    off = {m["kind"] for m in plan(parse_spec(SPECS["dht-nodeport-no-tracker-no-policies"]), META).applied}
    assert "NetworkPolicy" not in off and "PodDisruptionBudget" not in off


def test_network_policies_admit_only_this_instance_to_minio_and_redis() -> None:
    manifests = {(m["kind"], m["metadata"]["name"]): m for m in plan(parse_spec({}), META).applied}
    redis = manifests[("NetworkPolicy", "demo-redis")]["spec"]["ingress"][0]
    assert redis["ports"] == [{"protocol": "TCP", "port": 6379}]
    allowed = [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in redis["from"]]
    assert allowed == ["gateway", "blossom", "tracker", "dht"]
    assert all(
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "demo" for peer in redis["from"]
    )


def test_generated_secrets_are_complete_and_come_from_the_token_source() -> None:
    secrets = {
        s["metadata"]["name"]: s["stringData"]
        for s in build_generated_secrets(parse_spec({}), META, counter_token)
    }
    assert set(secrets) == {
        "demo-minio-credentials",
        "demo-redis-credentials",
        "demo-tracker-secret",
        "demo-nostr-key",
    }
    redis = secrets["demo-redis-credentials"]
    assert redis["url"] == f"redis://:{redis['password']}@demo-redis.media.svc:6379/0"
    assert len(secrets["demo-minio-credentials"]["root-password"]) == 48
    own_key = {**SPECS["full"], "nostr": {"privateKeySecret": {"name": "nostr-server-key"}}}
    external = build_generated_secrets(parse_spec(own_key), META, counter_token)
    assert {s["metadata"]["name"] for s in external} == {
        "demo-minio-credentials",
        "demo-redis-credentials",
        "demo-tracker-secret",
    }  # the Nostr key is the user's


def test_generated_nostr_keys_are_valid_secp256k1_scalars() -> None:
    candidates = iter(["00" * 32, "ff" * 32, "12" * 32])
    assert generate_nostr_key(lambda n: next(candidates)) == "12" * 32
    key = generate_nostr_key(lambda n: __import__("secrets").token_hex(n))
    assert 0 < int(key, 16) < SECP256K1_ORDER


def test_secrets_never_reach_the_configmap() -> None:
    the_plan = plan(parse_spec(SPECS["managed-storage"]), META, counter_token)
    (configmap,) = [m for m in the_plan.workloads if m["kind"] == "ConfigMap"]
    text = configmap["data"][CONFIG_KEY]
    for secret in the_plan.secrets:
        for value in secret["stringData"].values():
            assert value not in text
    for key in ("access_key", "secret_key", "redis_url", "private_key", "secret:"):
        assert key not in text


def test_config_changes_change_the_pod_checksum() -> None:
    first = build_deployment(parse_spec({}), META, "gateway")["spec"]["template"]["metadata"]["annotations"]
    second = build_deployment(parse_spec({"hls": {"enabled": False}}), META, "gateway")["spec"]["template"][
        "metadata"
    ]
    assert first[CHECKSUM_ANNOTATION] != second["annotations"][CHECKSUM_ANNOTATION]


def test_component_workloads_follow_the_spec() -> None:
    assert component_workloads(parse_spec({}), META) == {
        "gateway": ("Deployment", "demo-gateway"),
        "blossom": ("Deployment", "demo-blossom"),
        "tracker": ("Deployment", "demo-tracker"),
        "dht": ("StatefulSet", "demo-dht"),
        "minio": ("StatefulSet", "demo-minio"),
        "redis": ("StatefulSet", "demo-redis"),
    }
    assert set(component_workloads(parse_spec(SPECS["external-storage"]), META)) == {
        "gateway",
        "blossom",
        "tracker",
        "dht",
    }
