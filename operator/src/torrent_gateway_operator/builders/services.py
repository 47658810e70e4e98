"""Services: one per component, per-pod DHT Services, Redis and MinIO (headless and client)."""

from __future__ import annotations

import copy
from typing import Any

from ..config_render import MINIO_PORT, REDIS_PORT
from ..names import Names, selector
from ..spec import TorrentGatewaySpec
from .common import (
    DHT_HTTP_PORT,
    DHT_PORT,
    HTTP_PORTS,
    PEER_PORT,
    TRACKER_PORT,
    Manifest,
    Meta,
    object_metadata,
    render_context,
)


def build_service(spec: TorrentGatewaySpec, meta: Meta, component: str) -> Manifest:
    """The in-cluster Service of a component (the tracker's may face the internet: UDP needs it)."""
    names, rendered = render_context(spec, meta)
    service_spec: dict[str, Any] = {"selector": selector(meta["name"], component)}
    annotations: dict[str, str] = {}
    if component == "dht":
        # Governing Service of the StatefulSet: per-pod DNS names, metrics scraping.
        service_spec["clusterIP"] = "None"
        service_spec["ports"] = [
            {"name": "http", "port": DHT_HTTP_PORT, "targetPort": "http", "protocol": "TCP"}
        ]
    else:
        service_spec["type"] = "ClusterIP"
        service_spec["ports"] = [
            {"name": "http", "port": HTTP_PORTS[component], "targetPort": "http", "protocol": "TCP"}
        ]
    if component == "tracker":
        service_spec["type"] = spec.tracker.service.type
        annotations = dict(spec.tracker.service.annotations)
        if rendered.settings.tracker.udp:
            service_spec["ports"].append(
                {"name": "udp", "port": TRACKER_PORT, "targetPort": "udp", "protocol": "UDP"}
            )
        if spec.tracker.service.type != "ClusterIP":
            service_spec["externalTrafficPolicy"] = "Local"  # keep peers' real addresses
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(meta, names.component(component), component, annotations=annotations),
        "spec": service_spec,
    }


def split_by_protocol(service: Manifest) -> list[Manifest]:
    """A LoadBalancer Service with TCP and UDP ports → one per protocol (``<name>`` TCP, ``<name>-udp``).

    Many clouds' load balancers refuse mixed protocols (or silently drop one); two Services, each
    with one protocol, work everywhere.
    """
    spec = service["spec"]
    protocols = {port.get("protocol", "TCP") for port in spec["ports"]}
    if spec.get("type") != "LoadBalancer" or len(protocols) < 2:
        return [service]
    tcp = copy.deepcopy(service)
    tcp["spec"]["ports"] = [port for port in spec["ports"] if port.get("protocol", "TCP") == "TCP"]
    udp = copy.deepcopy(service)
    udp["metadata"]["name"] = f"{service['metadata']['name']}-udp"
    udp["spec"]["ports"] = [port for port in spec["ports"] if port.get("protocol") == "UDP"]
    return [tcp, udp]


def build_dht_pod_services(spec: TorrentGatewaySpec, meta: Meta) -> list[Manifest]:
    """One Service per DHT pod when exposed by NodePort or LoadBalancer (each node has its own id)."""
    if not spec.dht.enabled or spec.dht.exposure.type not in ("NodePort", "LoadBalancer"):
        return []
    names = Names(meta["name"])
    out = []
    for ordinal in range(spec.dht.replicas):
        pod = names.dht_pod(ordinal)
        out += split_by_protocol(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": object_metadata(
                    meta, pod, "dht", annotations=dict(spec.dht.exposure.annotations)
                ),
                "spec": {
                    "type": spec.dht.exposure.type,
                    "externalTrafficPolicy": "Local",
                    "selector": {**selector(meta["name"], "dht"), "statefulset.kubernetes.io/pod-name": pod},
                    "ports": [
                        {"name": "dht", "port": DHT_PORT, "targetPort": "dht", "protocol": "UDP"},
                        {"name": "peer", "port": PEER_PORT, "targetPort": "peer", "protocol": "TCP"},
                        {"name": "peer-utp", "port": PEER_PORT, "targetPort": "peer-utp", "protocol": "UDP"},
                    ],
                },
            }
        )
    return out


def build_redis_service(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    names = Names(meta["name"])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(meta, names.redis, "redis"),
        "spec": {
            "clusterIP": "None",
            "selector": selector(meta["name"], "redis"),
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}],
        },
    }


def build_minio_services(spec: TorrentGatewaySpec, meta: Meta) -> list[Manifest]:
    """A headless Service (pod DNS for the erasure set) and a ClusterIP one for clients."""
    names = Names(meta["name"])
    ports = [{"name": "s3", "port": MINIO_PORT, "targetPort": "s3", "protocol": "TCP"}]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": object_metadata(meta, names.minio_headless, "minio"),
            "spec": {
                "clusterIP": "None",
                # The distributed set must find its peers before any of them is ready.
                "publishNotReadyAddresses": True,
                "selector": selector(meta["name"], "minio"),
                "ports": ports,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": object_metadata(meta, names.minio, "minio"),
            "spec": {"type": "ClusterIP", "selector": selector(meta["name"], "minio"), "ports": ports},
        },
    ]
