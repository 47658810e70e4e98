"""Pure builders: a TorrentGateway's spec and metadata → the manifest of each child object.

Every ``build_<kind>(spec, meta, ...)`` returns a plain dict ready for server-side apply, with
an owner reference to the TorrentGateway so that deleting it removes everything. ``plan``
groups them in the order the reconciler applies them: generated Secrets (created once, never
overwritten), then the dependencies (managed MinIO and Redis), then the workloads, which wait
until the dependencies are ready. Nothing here touches the network.
"""

from __future__ import annotations

import copy
import secrets as _secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import API_VERSION, KIND
from .config_render import (
    CACHE_DIR,
    CONFIG_DIR,
    CONFIG_KEY,
    MINIO_PORT,
    REDIS_PORT,
    RenderedConfig,
    component_env,
    render,
)
from .names import Names, check_instance_name, labels, selector
from .spec import Resources, TorrentGatewaySpec

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
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

DEFAULT_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "gateway": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "blossom": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    "tracker": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    "dht": {"requests": {"cpu": "200m", "memory": "384Mi"}, "limits": {"memory": "1Gi"}},
    "minio": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
    "redis": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
}


# ---------------------------------------------------------------------------------------- common


def owner_reference(meta: Meta) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(meta: Meta, name: str, component: str | None, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": labels(meta["name"], component),
        "ownerReferences": [owner_reference(meta)],
    }
    result.update({k: v for k, v in extra.items() if v})
    return result


def _resources(given: Resources | None, component: str) -> dict[str, Any]:
    if given is None:
        return {section: dict(values) for section, values in DEFAULT_RESOURCES[component].items()}
    out: dict[str, Any] = {}
    if given.requests:
        out["requests"] = dict(given.requests)
    if given.limits:
        out["limits"] = dict(given.limits)
    return out


def _container_security(read_only: bool = True) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _http_probe(path: str, port: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _spread(instance: str, component: str) -> list[dict[str, Any]]:
    # Replicas of one component prefer different nodes, without blocking scheduling.
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(instance, component)},
        }
    ]


_RENDERED: dict[tuple[str, str, str], RenderedConfig] = {}
_RENDERED_MAX = 256


def _context(spec: TorrentGatewaySpec, meta: Meta) -> tuple[Names, RenderedConfig]:
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
    return _context(spec, meta)[1]


# ------------------------------------------------------------------------------- identity & config


def build_service_account(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    """The workloads' identity; they never call the Kubernetes API, so no token is mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(meta, Names(meta["name"]).service_account, None),
        "automountServiceAccountToken": False,
    }


def build_configmap(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    """The workloads' settings file (secrets excluded: they come from env vars)."""
    names, rendered = _context(spec, meta)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(meta, names.config, None),
        "data": {CONFIG_KEY: rendered.config_yaml},
    }


def generate_nostr_key(token: TokenSource) -> str:
    """A valid secp256k1 secret key as hex: 32 random bytes below the group order, not zero."""
    for _ in range(64):  # the chance of even one retry is below 2**-127
        candidate = token(32)
        if 0 < int(candidate, 16) < SECP256K1_ORDER:
            return candidate
    raise RuntimeError("the random source keeps producing invalid secp256k1 keys")


def build_generated_secrets(
    spec: TorrentGatewaySpec, meta: Meta, token: TokenSource = _secrets.token_hex
) -> list[Manifest]:
    """Credentials the operator makes up: created once when absent, never overwritten."""
    names = Names(meta["name"])
    namespace = meta["namespace"]
    out: list[Manifest] = []

    def secret(name: str, component: str | None, data: dict[str, str]) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _metadata(meta, name, component),
            "type": "Opaque",
            "stringData": data,
        }

    if spec.storage.minio.managed is not None:
        out.append(
            secret(
                names.minio_credentials,
                "minio",
                {
                    "root-user": "tgw-" + token(8),
                    "root-password": token(24),
                },
            )
        )
    if spec.redis.managed is not None:
        password = token(24)
        out.append(
            secret(
                names.redis_credentials,
                "redis",
                {
                    "password": password,
                    "url": f"redis://:{password}@{names.redis}.{namespace}.svc:{REDIS_PORT}/0",
                },
            )
        )
    if spec.tracker.enabled and spec.tracker.secret_ref is None:
        out.append(secret(names.tracker_secret, "tracker", {"secret": token(32)}))
    if spec.nostr.private_key_secret is None:
        out.append(secret(names.nostr_key, "gateway", {"private-key": generate_nostr_key(token)}))
    return out


# ----------------------------------------------------------------------------------- workloads


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


def _pod_template(spec: TorrentGatewaySpec, meta: Meta, component: str) -> dict[str, Any]:
    names, rendered = _context(spec, meta)
    instance = meta["name"]
    section = getattr(spec, component)
    container = {
        "name": component,
        "image": spec.image.reference,
        "imagePullPolicy": spec.image.pull_policy,
        "args": [component],
        "env": component_env(rendered, component),
        "ports": _component_ports(spec, rendered, component),
        "startupProbe": _http_probe("/healthz", "http", period=2, failures=60),
        "livenessProbe": _http_probe("/healthz", "http", period=10, failures=3),
        "readinessProbe": _http_probe("/readyz", "http", period=5, failures=3),
        "resources": _resources(section.resources, component),
        "securityContext": _container_security(),
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
        "securityContext": _pod_security(WORKLOAD_UID),
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
        pod_spec["topologySpreadConstraints"] = _spread(instance, component)
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


def build_deployment(spec: TorrentGatewaySpec, meta: Meta, component: str) -> Manifest:
    """gateway, blossom or tracker: stateless, so a Deployment (and maybe an HPA)."""
    if component not in ("gateway", "blossom", "tracker"):
        raise ValueError(f"{component} is not a Deployment")
    names = Names(meta["name"])
    section = getattr(spec, component)
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(meta["name"], component)},
        "revisionHistoryLimit": 5,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": _pod_template(spec, meta, component),
    }
    autoscaling = getattr(section, "autoscaling", None)
    if autoscaling is None or not autoscaling.enabled:
        # With an HPA the replica count is left out so the autoscaler owns it, not our apply.
        deployment_spec = {"replicas": section.replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(meta, names.component(component), component),
        "spec": deployment_spec,
    }


def build_dht_statefulset(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    """DHT nodes: a stable identity (and shard) per pod, so a StatefulSet."""
    names = Names(meta["name"])
    sts_spec: dict[str, Any] = {
        "replicas": spec.dht.replicas,
        "serviceName": names.component("dht"),
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": selector(meta["name"], "dht")},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": _pod_template(spec, meta, "dht"),
    }
    if spec.dht.persistence.enabled:
        sts_spec["volumeClaimTemplates"] = [
            _claim("cache", spec.dht.persistence.size, spec.dht.persistence.storage_class_name)
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(meta, names.component("dht"), "dht"),
        "spec": sts_spec,
    }


def _claim(name: str, size: str, storage_class: str | None) -> dict[str, Any]:
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


def build_service(spec: TorrentGatewaySpec, meta: Meta, component: str) -> Manifest:
    """The in-cluster Service of a component (the tracker's may face the internet: UDP needs it)."""
    names, rendered = _context(spec, meta)
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
        "metadata": _metadata(meta, names.component(component), component, annotations=annotations),
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
                "metadata": _metadata(meta, pod, "dht", annotations=dict(spec.dht.exposure.annotations)),
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


def build_hpa(spec: TorrentGatewaySpec, meta: Meta, component: str) -> Manifest | None:
    section = getattr(spec, component)
    autoscaling = section.autoscaling
    if not autoscaling.enabled:
        return None
    names = Names(meta["name"])
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(meta, names.component(component), component),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": names.component(component),
            },
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": autoscaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def build_pdb(spec: TorrentGatewaySpec, meta: Meta, component: str) -> Manifest:
    """At most one pod of a component down at a time during drains and upgrades."""
    names = Names(meta["name"])
    name = names.minio if component == "minio" else names.component(component)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(meta, name, component),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(meta["name"], component)}},
    }


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
        "metadata": _metadata(meta, names.network_policy(component), component),
        "spec": {
            "podSelector": {"matchLabels": selector(instance, component)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def build_ingress(spec: TorrentGatewaySpec, meta: Meta) -> Manifest | None:
    """API host → gateway (/announce and /scrape → tracker); Blossom host → Blossom."""
    ingress = spec.ingress
    if not ingress.enabled or not ingress.host:
        return None
    names = Names(meta["name"])

    def backend(component: str) -> dict[str, Any]:
        return {"service": {"name": names.component(component), "port": {"name": "http"}}}

    api_paths: list[dict[str, Any]] = []
    if spec.tracker.enabled:
        api_paths += [
            {"path": "/announce", "pathType": "Exact", "backend": backend("tracker")},
            {"path": "/scrape", "pathType": "Exact", "backend": backend("tracker")},
        ]
    api_paths.append({"path": "/", "pathType": "Prefix", "backend": backend("gateway")})
    rules = [{"host": ingress.host, "http": {"paths": api_paths}}]
    hosts = [ingress.host]
    if spec.blossom.enabled and ingress.blossom_host:
        rules.append(
            {
                "host": ingress.blossom_host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend("blossom")}]},
            }
        )
        hosts.append(ingress.blossom_host)
    annotations: dict[str, str] = {}
    if ingress.class_name in (None, "nginx"):
        # Uploads are streamed through: no body size cap, no buffering, long transfers.
        annotations.update(
            {
                "nginx.ingress.kubernetes.io/proxy-body-size": "0",
                "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
                "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
            }
        )
    annotations.update(ingress.annotations)
    ingress_spec: dict[str, Any] = {"rules": rules}
    if ingress.class_name:
        ingress_spec["ingressClassName"] = ingress.class_name
    if ingress.tls.enabled:
        ingress_spec["tls"] = [
            {"hosts": hosts, "secretName": ingress.tls.secret_name or f"{meta['name']}-tls"}
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(meta, names.ingress, "gateway", annotations=annotations),
        "spec": ingress_spec,
    }


# ------------------------------------------------------------------------------ managed storage


def build_redis_service(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    names = Names(meta["name"])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(meta, names.redis, "redis"),
        "spec": {
            "clusterIP": "None",
            "selector": selector(meta["name"], "redis"),
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}],
        },
    }


def build_redis_statefulset(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    managed = spec.redis.managed
    assert managed is not None
    names = Names(meta["name"])
    persistence = managed.persistence
    container = {
        "name": "redis",
        "image": managed.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "--requirepass",
            "$(REDIS_PASSWORD)",
            "--dir",
            "/data",
            "--appendonly",
            "yes" if persistence.enabled else "no",
            "--save",
            "",
            "--maxmemory",
            managed.max_memory,
            # Only TTL'd keys (sessions, swarm peers, rate buckets) may be evicted; indexes stay.
            "--maxmemory-policy",
            "volatile-lru",
        ],
        "env": [
            {
                "name": "REDIS_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": names.redis_credentials, "key": "password"}},
            }
        ],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "livenessProbe": {
            "tcpSocket": {"port": "redis"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "exec": {
                "command": [
                    "sh",
                    "-c",
                    'redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG',
                ]
            },
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "resources": _resources(managed.resources, "redis"),
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    sts_spec: dict[str, Any] = {
        "replicas": 1,
        "serviceName": names.redis,
        "selector": {"matchLabels": selector(meta["name"], "redis")},
        "template": {
            "metadata": {"labels": labels(meta["name"], "redis")},
            "spec": {
                "automountServiceAccountToken": False,
                "serviceAccountName": names.service_account,
                "securityContext": _pod_security(999),  # the redis user of the official image
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    if persistence.enabled:
        sts_spec["volumeClaimTemplates"] = [_claim("data", persistence.size, persistence.storage_class_name)]
    else:
        volumes.append({"name": "data", "emptyDir": {}})
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(meta, names.redis, "redis"),
        "spec": sts_spec,
    }


def build_minio_services(spec: TorrentGatewaySpec, meta: Meta) -> list[Manifest]:
    """A headless Service (pod DNS for the erasure set) and a ClusterIP one for clients."""
    names = Names(meta["name"])
    ports = [{"name": "s3", "port": MINIO_PORT, "targetPort": "s3", "protocol": "TCP"}]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(meta, names.minio_headless, "minio"),
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
            "metadata": _metadata(meta, names.minio, "minio"),
            "spec": {"type": "ClusterIP", "selector": selector(meta["name"], "minio"), "ports": ports},
        },
    ]


def build_minio_statefulset(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    managed = spec.storage.minio.managed
    assert managed is not None
    names = Names(meta["name"])
    if managed.replicas == 1:
        volumes_arg = "/data"
    else:
        last = managed.replicas - 1
        volumes_arg = (
            f"http://{names.minio}-{{0...{last}}}.{names.minio_headless}.{meta['namespace']}.svc/data"
        )
    container = {
        "name": "minio",
        "image": managed.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["server", volumes_arg, "--address", f":{MINIO_PORT}"],
        "env": [
            {
                "name": "MINIO_ROOT_USER",
                "valueFrom": {"secretKeyRef": {"name": names.minio_credentials, "key": "root-user"}},
            },
            {
                "name": "MINIO_ROOT_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": names.minio_credentials, "key": "root-password"}},
            },
            {"name": "MINIO_BROWSER", "value": "off"},
            {"name": "HOME", "value": "/tmp"},  # MinIO keeps its certs dir under $HOME
        ],
        "ports": [{"name": "s3", "containerPort": MINIO_PORT, "protocol": "TCP"}],
        "livenessProbe": _http_probe("/minio/health/live", "s3", period=10, failures=3),
        "readinessProbe": _http_probe("/minio/health/ready", "s3", period=5, failures=3),
        "resources": _resources(managed.resources, "minio"),
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(meta, names.minio, "minio"),
        "spec": {
            "replicas": managed.replicas,
            "serviceName": names.minio_headless,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector(meta["name"], "minio")},
            "template": {
                "metadata": {"labels": labels(meta["name"], "minio")},
                "spec": {
                    "automountServiceAccountToken": False,
                    "serviceAccountName": names.service_account,
                    "securityContext": _pod_security(1000),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                    "topologySpreadConstraints": _spread(meta["name"], "minio"),
                },
            },
            "volumeClaimTemplates": [_claim("data", managed.size, managed.storage_class_name)],
        },
    }


# ------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Dependency:
    """A managed dependency the workloads wait for: its StatefulSet must have every replica ready."""

    condition: str  # ObjectStoreReady / RedisReady
    statefulset: str
    replicas: int


@dataclass(frozen=True)
class Plan:
    secrets: list[Manifest] = field(default_factory=list)  # create-if-absent, never overwritten
    dependencies: list[Manifest] = field(default_factory=list)
    workloads: list[Manifest] = field(default_factory=list)
    waits: list[Dependency] = field(default_factory=list)

    @property
    def applied(self) -> list[Manifest]:
        return [*self.dependencies, *self.workloads]

    def keys(self) -> set[tuple[str, str]]:
        return {(m["kind"], m["metadata"]["name"]) for m in (*self.secrets, *self.applied)}


def plan(spec: TorrentGatewaySpec, meta: Meta, token: TokenSource = _secrets.token_hex) -> Plan:
    """Every child of one TorrentGateway, grouped and ordered for the reconciler."""
    check_instance_name(meta["name"])
    names = Names(meta["name"])
    pdb = spec.pod_disruption_budget.enabled
    policies = spec.network_policy.enabled
    dependencies: list[Manifest] = [build_service_account(spec, meta)]
    waits: list[Dependency] = []
    if spec.redis.managed is not None:
        dependencies += [build_redis_service(spec, meta), build_redis_statefulset(spec, meta)]
        if policies:
            dependencies.append(build_network_policy(spec, meta, "redis"))
        waits.append(Dependency("RedisReady", names.redis, 1))
    managed_minio = spec.storage.minio.managed
    if managed_minio is not None:
        dependencies += [*build_minio_services(spec, meta), build_minio_statefulset(spec, meta)]
        if policies:
            dependencies.append(build_network_policy(spec, meta, "minio"))
        if pdb and managed_minio.replicas >= 4:
            dependencies.append(build_pdb(spec, meta, "minio"))
        waits.append(Dependency("ObjectStoreReady", names.minio, managed_minio.replicas))

    workloads: list[Manifest] = [build_configmap(spec, meta)]
    for component in ("gateway", "blossom", "tracker"):
        if component != "gateway" and not getattr(spec, component).enabled:
            continue
        workloads += [
            *split_by_protocol(build_service(spec, meta, component)),
            build_deployment(spec, meta, component),
        ]
        if component != "tracker":
            hpa = build_hpa(spec, meta, component)
            if hpa is not None:
                workloads.append(hpa)
        if pdb:
            workloads.append(build_pdb(spec, meta, component))
        if policies:
            workloads.append(build_network_policy(spec, meta, component))
    if spec.dht.enabled:
        workloads += [
            build_service(spec, meta, "dht"),
            *build_dht_pod_services(spec, meta),
            build_dht_statefulset(spec, meta),
        ]
        if pdb:
            workloads.append(build_pdb(spec, meta, "dht"))
        if policies:
            workloads.append(build_network_policy(spec, meta, "dht"))
    ingress = build_ingress(spec, meta)
    if ingress is not None:
        workloads.append(ingress)
    return Plan(
        secrets=build_generated_secrets(spec, meta, token),
        dependencies=dependencies,
        workloads=workloads,
        waits=waits,
    )


def component_workloads(spec: TorrentGatewaySpec, meta: Meta) -> dict[str, tuple[str, str]]:
    """component → (kind, name) of its Deployment/StatefulSet, for the status' replica counts."""
    names = Names(meta["name"])
    out: dict[str, tuple[str, str]] = {"gateway": ("Deployment", names.component("gateway"))}
    for component in ("blossom", "tracker"):
        if getattr(spec, component).enabled:
            out[component] = ("Deployment", names.component(component))
    if spec.dht.enabled:
        out["dht"] = ("StatefulSet", names.component("dht"))
    if spec.storage.minio.managed is not None:
        out["minio"] = ("StatefulSet", names.minio)
    if spec.redis.managed is not None:
        out["redis"] = ("StatefulSet", names.redis)
    return out
