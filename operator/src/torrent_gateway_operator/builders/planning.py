"""The plan: every child of one TorrentGateway, grouped and ordered for the reconciler.

Generated Secrets first (created once, never overwritten), then the dependencies (managed MinIO
and Redis), then the workloads, which wait until the dependencies are ready.
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass, field

from ..names import Names, check_instance_name
from ..spec import TorrentGatewaySpec
from .autoscaling import build_hpa
from .common import Manifest, Meta, TokenSource
from .configmap import build_configmap
from .deployments import build_deployment
from .disruption import build_pdb
from .generated_secrets import build_generated_secrets
from .ingress import build_ingress
from .networkpolicies import build_network_policy
from .serviceaccount import build_service_account
from .services import (
    build_dht_pod_services,
    build_minio_services,
    build_redis_service,
    build_service,
    split_by_protocol,
)
from .statefulsets import build_dht_statefulset, build_minio_statefulset, build_redis_statefulset


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
