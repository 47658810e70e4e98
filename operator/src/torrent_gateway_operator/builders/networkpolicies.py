"""NetworkPolicies that admit only the traffic each component serves."""

from __future__ import annotations

from typing import Any

from ..config_render import MINIO_PORT, REDIS_PORT
from ..names import Names, selector
from ..spec import TorrentGatewaySpec
from .common import DHT_PORT, HTTP_PORTS, PEER_PORT, TRACKER_PORT, Manifest, Meta, object_metadata


def build_network_policy(spec: TorrentGatewaySpec, meta: Meta, component: str) -> Manifest:
    """Admit only the ports a component serves; MinIO and Redis only from this instance's pods."""
    names = Names(meta["name"])
    instance = meta["name"]
    rules: list[dict[str, Any]]
    if component in ("minio", "redis"):
        port = MINIO_PORT if component == "minio" else REDIS_PORT
        peers = [
            {"podSelector": {"matchLabels": selector(instance, client)}}
            for client in (
                "gateway",
                "blossom",
                "tracker",
                "dht",
                *(("minio",) if component == "minio" else ()),
            )
        ]
        rules = [{"from": peers, "ports": [{"protocol": "TCP", "port": port}]}]
    else:
        ports: list[dict[str, Any]] = [{"protocol": "TCP", "port": HTTP_PORTS[component]}]
        if component == "tracker":
            ports.append({"protocol": "UDP", "port": TRACKER_PORT})
        if component == "dht":
            ports += [
                {"protocol": "UDP", "port": DHT_PORT},
                {"protocol": "TCP", "port": PEER_PORT},
                {"protocol": "UDP", "port": PEER_PORT},
            ]
        rules = [{"ports": ports}]  # from anywhere: the Ingress controller, peers on the internet
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_metadata(meta, names.network_policy(component), component),
        "spec": {
            "podSelector": {"matchLabels": selector(instance, component)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }
