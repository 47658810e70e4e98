"""What every builder shares: manifest types, ports, metadata, resources, security, probes.

Also the bounded memo of the workloads' rendered settings, so that one plan renders them once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .. import API_VERSION, KIND
from ..config_render import RenderedConfig, render
from ..names import Names, check_instance_name, labels, selector
from ..spec import Resources, TorrentGatewaySpec

Manifest = dict[str, Any]
Meta = Mapping[str, Any]
TokenSource = Callable[[int], str]  # n bytes → hex text; injectable so tests are deterministic

GATEWAY_PORT, BLOSSOM_PORT, TRACKER_PORT, DHT_HTTP_PORT, DHT_PORT, PEER_PORT = (
    9876,
    8081,
    6969,
    8082,
    6882,
    6881,
)
HTTP_PORTS = {"gateway": GATEWAY_PORT, "blossom": BLOSSOM_PORT, "tracker": TRACKER_PORT, "dht": DHT_HTTP_PORT}
WORKLOAD_UID = 10001
CHECKSUM_ANNOTATION = "torrentgateway.io/config-checksum"

DEFAULT_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "gateway": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "blossom": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    "tracker": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    "dht": {"requests": {"cpu": "200m", "memory": "384Mi"}, "limits": {"memory": "1Gi"}},
    "minio": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
    "redis": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
}


def owner_reference(meta: Meta) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_metadata(meta: Meta, name: str, component: str | None, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": labels(meta["name"], component),
        "ownerReferences": [owner_reference(meta)],
    }
    result.update({k: v for k, v in extra.items() if v})
    return result


def container_resources(given: Resources | None, component: str) -> dict[str, Any]:
    if given is None:
        return {section: dict(values) for section, values in DEFAULT_RESOURCES[component].items()}
    out: dict[str, Any] = {}
    if given.requests:
        out["requests"] = dict(given.requests)
    if given.limits:
        out["limits"] = dict(given.limits)
    return out


def container_security(read_only: bool = True) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def spread(instance: str, component: str) -> list[dict[str, Any]]:
    # Replicas of one component prefer different nodes, without blocking scheduling.
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(instance, component)},
        }
    ]


def volume_claim(name: str, size: str, storage_class: str | None) -> dict[str, Any]:
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        claim_spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": claim_spec,
    }


_RENDERED: dict[tuple[str, str, str], RenderedConfig] = {}
_RENDERED_MAX = 256


def render_context(spec: TorrentGatewaySpec, meta: Meta) -> tuple[Names, RenderedConfig]:
    # Several builders need the same rendering; a bounded memo keeps a plan to one render.
    check_instance_name(meta["name"])
    key = (spec.model_dump_json(), meta["name"], meta["namespace"])
    rendered = _RENDERED.get(key)
    if rendered is None:
        rendered = render(spec, meta["name"], meta["namespace"])
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.pop(next(iter(_RENDERED)))
        _RENDERED[key] = rendered
    return Names(meta["name"]), rendered


def rendered_config(spec: TorrentGatewaySpec, meta: Meta) -> RenderedConfig:
    """The workloads' settings for this spec (the same rendering the ConfigMap carries)."""
    return render_context(spec, meta)[1]
