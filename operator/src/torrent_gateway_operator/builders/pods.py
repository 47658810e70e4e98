"""The pod template shared by the components' Deployments and the DHT StatefulSet."""

from __future__ import annotations

from typing import Any

from ..config_render import CACHE_DIR, CONFIG_DIR, RenderedConfig, component_env
from ..names import Names, labels, selector
from ..spec import TorrentGatewaySpec
from .common import (
    CHECKSUM_ANNOTATION,
    DHT_PORT,
    HTTP_PORTS,
    PEER_PORT,
    TRACKER_PORT,
    WORKLOAD_UID,
    Meta,
    container_resources,
    container_security,
    http_probe,
    pod_security,
    render_context,
    spread,
)


def _workload_volumes(names: Names) -> list[dict[str, Any]]:
    return [
        {"name": "config", "configMap": {"name": names.config}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]


def _workload_mounts() -> list[dict[str, Any]]:
    return [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "cache", "mountPath": CACHE_DIR},
    ]


def _component_ports(
    spec: TorrentGatewaySpec, rendered: RenderedConfig, component: str
) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": HTTP_PORTS[component], "protocol": "TCP"}]
    if component == "tracker" and rendered.settings.tracker.udp:
        ports.append({"name": "udp", "containerPort": TRACKER_PORT, "protocol": "UDP"})
    if component == "dht":
        host = spec.dht.exposure.type == "HostPort"
        for name, port, protocol in (
            ("dht", DHT_PORT, "UDP"),
            ("peer", PEER_PORT, "TCP"),
            ("peer-utp", PEER_PORT, "UDP"),
        ):
            entry: dict[str, Any] = {"name": name, "containerPort": port, "protocol": protocol}
            if host:
                entry["hostPort"] = port
            ports.append(entry)
    return ports


def pod_template(spec: TorrentGatewaySpec, meta: Meta, component: str) -> dict[str, Any]:
    names, rendered = render_context(spec, meta)
    instance = meta["name"]
    section = getattr(spec, component)
    container = {
        "name": component,
        "image": spec.image.reference,
        "imagePullPolicy": spec.image.pull_policy,
        "args": [component],
        "env": component_env(rendered, component),
        "ports": _component_ports(spec, rendered, component),
        "startupProbe": http_probe("/healthz", "http", period=2, failures=60),
        "livenessProbe": http_probe("/healthz", "http", period=10, failures=3),
        "readinessProbe": http_probe("/readyz", "http", period=5, failures=3),
        "resources": container_resources(section.resources, component),
        "securityContext": container_security(),
        "volumeMounts": _workload_mounts(),
    }
    volumes = _workload_volumes(names)
    if component == "dht" and not spec.dht.persistence.enabled:
        # The seeder's chunk cache plus headroom for the DHT state.
        volumes.append(
            {"name": "cache", "emptyDir": {"sizeLimit": str(spec.dht.cache_bytes + 256 * 1024 * 1024)}}
        )
    elif component != "dht":
        volumes.append({"name": "cache", "emptyDir": {}})
    # else: the DHT cache is the StatefulSet's volumeClaimTemplate "cache".
    pod_spec: dict[str, Any] = {
        "serviceAccountName": names.service_account,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(WORKLOAD_UID),
        "containers": [container],
        "volumes": volumes,
        "terminationGracePeriodSeconds": 30,
    }
    if spec.image.pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in spec.image.pull_secrets]
    if component == "dht" and spec.dht.exposure.type == "HostPort":
        # hostPort allows one pod per node: the others must land elsewhere.
        pod_spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": selector(instance, component)},
                    }
                ]
            }
        }
    else:
        pod_spec["topologySpreadConstraints"] = spread(instance, component)
    return {
        "metadata": {
            "labels": labels(instance, component),
            "annotations": {
                CHECKSUM_ANNOTATION: rendered.checksum,  # a new config rolls the pods
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(HTTP_PORTS[component]),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": pod_spec,
    }
