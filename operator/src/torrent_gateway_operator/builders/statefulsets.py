"""StatefulSets: the DHT nodes (a stable identity per pod) and managed Redis and MinIO."""

from __future__ import annotations

from typing import Any

from ..config_render import MINIO_PORT, REDIS_PORT
from ..names import Names, labels, selector
from ..spec import TorrentGatewaySpec
from .common import (
    Manifest,
    Meta,
    container_resources,
    container_security,
    http_probe,
    object_metadata,
    pod_security,
    spread,
    volume_claim,
)
from .pods import pod_template


def build_dht_statefulset(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    """DHT nodes: a stable identity (and shard) per pod, so a StatefulSet."""
    names = Names(meta["name"])
    sts_spec: dict[str, Any] = {
        "replicas": spec.dht.replicas,
        "serviceName": names.component("dht"),
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": selector(meta["name"], "dht")},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": pod_template(spec, meta, "dht"),
    }
    if spec.dht.persistence.enabled:
        sts_spec["volumeClaimTemplates"] = [
            volume_claim("cache", spec.dht.persistence.size, spec.dht.persistence.storage_class_name)
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_metadata(meta, names.component("dht"), "dht"),
        "spec": sts_spec,
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
        "resources": container_resources(managed.resources, "redis"),
        "securityContext": container_security(),
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
                "securityContext": pod_security(999),  # the redis user of the official image
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    if persistence.enabled:
        sts_spec["volumeClaimTemplates"] = [
            volume_claim("data", persistence.size, persistence.storage_class_name)
        ]
    else:
        volumes.append({"name": "data", "emptyDir": {}})
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_metadata(meta, names.redis, "redis"),
        "spec": sts_spec,
    }


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
        "livenessProbe": http_probe("/minio/health/live", "s3", period=10, failures=3),
        "readinessProbe": http_probe("/minio/health/ready", "s3", period=5, failures=3),
        "resources": container_resources(managed.resources, "minio"),
        "securityContext": container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_metadata(meta, names.minio, "minio"),
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
                    "securityContext": pod_security(1000),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                    "topologySpreadConstraints": spread(meta["name"], "minio"),
                },
            },
            "volumeClaimTemplates": [volume_claim("data", managed.size, managed.storage_class_name)],
        },
    }
