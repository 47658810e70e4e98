"""Pure builders: a TorrentGateway's spec and metadata → the manifest of each child object.

Every ``build_<kind>(spec, meta, ...)`` returns a plain dict ready for server-side apply, with
an owner reference to the TorrentGateway so that deleting it removes everything. One module per
child kind (``deployments``, ``statefulsets``, ``services``, ``autoscaling``, ``disruption``,
``networkpolicies``, ``ingress``, ``configmap``, ``serviceaccount``, ``generated_secrets``), the
pod template they share in ``pods`` and the shared helpers in ``common``; ``planning`` groups
them in the order the reconciler applies them. Nothing here touches the network.
"""

from __future__ import annotations

from .autoscaling import build_hpa
from .common import (
    BLOSSOM_PORT,
    CHECKSUM_ANNOTATION,
    DEFAULT_RESOURCES,
    DHT_HTTP_PORT,
    DHT_PORT,
    GATEWAY_PORT,
    HTTP_PORTS,
    PEER_PORT,
    TRACKER_PORT,
    WORKLOAD_UID,
    Manifest,
    Meta,
    TokenSource,
    owner_reference,
    rendered_config,
)
from .configmap import build_configmap
from .deployments import build_deployment
from .disruption import build_pdb
from .generated_secrets import SECP256K1_ORDER, build_generated_secrets, generate_nostr_key
from .ingress import build_ingress
from .networkpolicies import build_network_policy
from .planning import Dependency, Plan, component_workloads, plan
from .serviceaccount import build_service_account
from .services import (
    build_dht_pod_services,
    build_minio_services,
    build_redis_service,
    build_service,
    split_by_protocol,
)
from .statefulsets import build_dht_statefulset, build_minio_statefulset, build_redis_statefulset

__all__ = [
    "BLOSSOM_PORT",
    "CHECKSUM_ANNOTATION",
    "DEFAULT_RESOURCES",
    "DHT_HTTP_PORT",
    "DHT_PORT",
    "GATEWAY_PORT",
    "HTTP_PORTS",
    "PEER_PORT",
    "SECP256K1_ORDER",
    "TRACKER_PORT",
    "WORKLOAD_UID",
    "Dependency",
    "Manifest",
    "Meta",
    "Plan",
    "TokenSource",
    "build_configmap",
    "build_deployment",
    "build_dht_pod_services",
    "build_dht_statefulset",
    "build_generated_secrets",
    "build_hpa",
    "build_ingress",
    "build_minio_services",
    "build_minio_statefulset",
    "build_network_policy",
    "build_pdb",
    "build_redis_service",
    "build_redis_statefulset",
    "build_service",
    "build_service_account",
    "component_workloads",
    "generate_nostr_key",
    "owner_reference",
    "plan",
    "rendered_config",
    "split_by_protocol",
]
