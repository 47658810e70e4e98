"""One reconciliation pass of a TorrentGateway, and its teardown.

Level-based and idempotent: every pass builds the full plan from the spec and applies it with
server-side apply, so running it again (a timer, a restart, a retry) converges to the same
children and undoes hand edits. The pass never raises for expected situations; it returns an
``Outcome`` that the kopf handlers turn into a status patch and a retry decision.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import FIELD_MANAGER
from .builders import Dependency, Plan, TokenSource, component_workloads, plan, rendered_config
from .kube import ApiError, KubeClient
from .names import check_instance_name
from .spec import SpecError, TorrentGatewaySpec, parse_spec
from .status import (
    OBJECT_STORE_READY,
    REDIS_READY,
    ComponentState,
    DependencyState,
    Observation,
    endpoints,
    status_patch,
)

log = logging.getLogger(__name__)

# Kinds the operator may have to remove, in teardown order: entry points first, data last.
PRUNABLE: list[tuple[str, str]] = [
    ("networking.k8s.io/v1", "Ingress"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
]
_DEPENDENCY_COMPONENTS = ("minio", "redis")
_WORKLOAD_API = {"Deployment": "apps/v1", "StatefulSet": "apps/v1"}


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Outcome:
    status: dict[str, Any]
    invalid: str | None = None  # the spec is refused: nothing was applied
    waiting: str | None = None  # a managed dependency is not ready: the workloads wait
    failed: str | None = None  # the API server refused something: retry later
    applied: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[tuple[str, str]] = field(default_factory=list)


def _selector(instance: str) -> str:
    return f"app.kubernetes.io/instance={instance},app.kubernetes.io/managed-by={FIELD_MANAGER}"


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


class Reconciler:
    def __init__(
        self,
        client: KubeClient,
        now: Callable[[], str] = utc_now,
        token: TokenSource | None = None,
    ) -> None:
        self.client = client
        self.now = now
        self.token = token

    async def reconcile(self, body: Mapping[str, Any], *, prune: bool) -> Outcome:
        metadata = body["metadata"]
        meta = {"name": metadata["name"], "namespace": metadata["namespace"], "uid": metadata["uid"]}
        generation = int(metadata.get("generation") or 0)
        previous = (body.get("status") or {}).get("conditions")

        try:
            check_instance_name(meta["name"])
            spec = parse_spec(dict(body.get("spec") or {}))
            the_plan = plan(spec, meta, self.token) if self.token else plan(spec, meta)
        except (SpecError, ValueError) as exc:
            obs = Observation(generation=generation, spec_error=str(exc))
            return Outcome(status=status_patch(obs, previous, self.now()), invalid=str(exc))

        rendered = rendered_config(spec, meta)
        url, public = endpoints(spec, rendered, meta["name"], meta["namespace"])
        outcome = Outcome(status={})
        dependencies: dict[str, DependencyState] = self._external_dependencies(spec)
        workloads_applied = False
        apply_error: str | None = None
        try:
            for secret in the_plan.secrets:
                if await self.client.create(secret):
                    log.info("created Secret %s/%s", meta["namespace"], secret["metadata"]["name"])
            for manifest in the_plan.dependencies:
                await self.client.apply(manifest)
                outcome.applied.append((manifest["kind"], manifest["metadata"]["name"]))
            for wait in the_plan.waits:
                dependencies[wait.condition] = await self._dependency_state(meta["namespace"], wait)
            if all(dep.ready for dep in dependencies.values()):
                for manifest in the_plan.workloads:
                    await self.client.apply(manifest)
                    outcome.applied.append((manifest["kind"], manifest["metadata"]["name"]))
                workloads_applied = True
                if prune:
                    outcome.pruned = await self._prune(meta, the_plan)
            components = await self._components(spec, meta)
        except ApiError as exc:
            apply_error = str(exc)
            components = {}

        obs = Observation(
            generation=generation,
            apply_error=apply_error,
            dependencies=dependencies,
            workloads_applied=workloads_applied,
            components=components,
            url=url,
            endpoints=public,
        )
        outcome.status = status_patch(obs, previous, self.now())
        waiting = sorted(name for name, dep in dependencies.items() if not dep.ready)
        if apply_error is not None:
            outcome.failed = apply_error
        elif waiting:
            outcome.waiting = "waiting for " + ", ".join(waiting)
        return outcome

    @staticmethod
    def _external_dependencies(spec: TorrentGatewaySpec) -> dict[str, DependencyState]:
        out: dict[str, DependencyState] = {}
        external_s3 = spec.storage.minio.external
        if external_s3 is not None:
            out[OBJECT_STORE_READY] = DependencyState(
                True, "External", f"Using the external S3 endpoint {external_s3.endpoint}; pods probe it."
            )
        if spec.redis.external is not None:
            out[REDIS_READY] = DependencyState(True, "External", "Using an external Redis; pods probe it.")
        return out

    async def _dependency_state(self, namespace: str, wait: Dependency) -> DependencyState:
        sts = await self.client.get("apps/v1", "StatefulSet", namespace, wait.statefulset)
        ready = int(((sts or {}).get("status") or {}).get("readyReplicas") or 0)
        if ready >= wait.replicas:
            return DependencyState(
                True, "StatefulSetReady", f"{wait.statefulset}: {ready}/{wait.replicas} pods ready."
            )
        return DependencyState(
            False, "StatefulSetNotReady", f"{wait.statefulset}: {ready}/{wait.replicas} pods ready."
        )

    async def _components(
        self, spec: TorrentGatewaySpec, meta: Mapping[str, str]
    ) -> dict[str, ComponentState]:
        out: dict[str, ComponentState] = {}
        for component, (kind, name) in component_workloads(spec, meta).items():
            obj = await self.client.get(_WORKLOAD_API[kind], kind, meta["namespace"], name)
            if obj is None:
                out[component] = ComponentState(replicas=0, ready_replicas=0)
                continue
            wanted = (obj.get("spec") or {}).get("replicas")
            status = obj.get("status") or {}
            out[component] = ComponentState(
                replicas=int(1 if wanted is None else wanted),
                ready_replicas=int(status.get("readyReplicas") or 0),
            )
        return out

    async def _owned(self, meta: Mapping[str, str]) -> list[tuple[str, str, str, str | None]]:
        """(apiVersion, kind, name, component) of every live child, in teardown order."""
        found = []
        for api_version, kind in PRUNABLE:
            for obj in await self.client.list(api_version, kind, meta["namespace"], _selector(meta["name"])):
                if _owned_by(obj, meta["uid"]):
                    labels = obj["metadata"].get("labels") or {}
                    found.append(
                        (
                            api_version,
                            kind,
                            obj["metadata"]["name"],
                            labels.get("app.kubernetes.io/component"),
                        )
                    )
        # Within the order of kinds, the components go before the data they use.
        return sorted(
            found, key=lambda item: (item[3] in _DEPENDENCY_COMPONENTS, PRUNABLE.index((item[0], item[1])))
        )

    async def _prune(self, meta: Mapping[str, str], the_plan: Plan) -> list[tuple[str, str]]:
        wanted = the_plan.keys()
        pruned = []
        for api_version, kind, name, _ in await self._owned(meta):
            if (kind, name) not in wanted and await self.client.delete(
                api_version, kind, meta["namespace"], name
            ):
                log.info("pruned %s %s/%s", kind, meta["namespace"], name)
                pruned.append((kind, name))
        return pruned

    async def teardown(self, body: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Remove the children in order (components before their data); Secrets go with the owner."""
        metadata = body["metadata"]
        meta = {"name": metadata["name"], "namespace": metadata["namespace"], "uid": metadata["uid"]}
        removed = []
        for api_version, kind, name, _ in await self._owned(meta):
            if await self.client.delete(api_version, kind, meta["namespace"], name):
                removed.append((kind, name))
        return removed
