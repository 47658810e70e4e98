"""One reconciliation pass of a TorrentGateway, and its teardown.

Level-based and idempotent: every pass builds the full plan from the spec and applies it with
server-side apply, so running it again (a timer, a restart, a retry) converges to the same
children and undoes hand edits. The pass never raises for expected situations; it returns an
``Outcome`` that the kopf handlers turn into a status patch and a retry decision.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import FIELD_MANAGER
from .builders import Dependency, Plan, TokenSource, component_workloads, plan, rendered_config
from .kube import ApiError, KubeClient
from .names import check_instance_name
from .spec import ImagePolicy, SpecError, TorrentGatewaySpec, parse_spec
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
# A StatefulSet's volumeClaimTemplates, serviceName, selector, podManagementPolicy… cannot change;
# the API server answers 422 with one of these (1.37: "spec.volumeClaimTemplates: … field is
# immutable"; older releases: "Forbidden: updates to statefulset spec for fields other than …").
_IMMUTABLE_STATEFULSET = ("field is immutable", "updates to statefulset spec for fields other than")
# Holds spec.replicas for the moment between our last apply that set it and the HPA's first write.
HANDOFF_MANAGER = f"{FIELD_MANAGER}-hpa-handoff"


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


def _owns_replicas(obj: Mapping[str, Any], manager: str) -> bool:
    return any(
        entry.get("manager") == manager
        and entry.get("operation") == "Apply"
        and "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
        for entry in obj.get("metadata", {}).get("managedFields") or []
    )


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


class Reconciler:
    def __init__(
        self,
        client: KubeClient,
        now: Callable[[], str] = utc_now,
        token: TokenSource | None = None,
        images: ImagePolicy | None = None,
        recreate_timeout: float = 30.0,
    ) -> None:
        self.client = client
        self.now = now
        self.token = token
        self.images = images or ImagePolicy()
        self.recreate_timeout = recreate_timeout

    async def reconcile(self, body: Mapping[str, Any], *, prune: bool) -> Outcome:
        metadata = body["metadata"]
        meta = {"name": metadata["name"], "namespace": metadata["namespace"], "uid": metadata["uid"]}
        generation = int(metadata.get("generation") or 0)
        previous = (body.get("status") or {}).get("conditions")

        try:
            check_instance_name(meta["name"])
            spec = parse_spec(dict(body.get("spec") or {}), self.images)
            the_plan = plan(spec, meta, self.token) if self.token else plan(spec, meta)
        except (SpecError, ValueError) as exc:
            obs = Observation(generation=generation, spec_error=str(exc))
            return Outcome(status=status_patch(obs, previous, self.now()), invalid=str(exc))

        rendered = rendered_config(spec, meta)
        url, public = endpoints(spec, rendered, meta["name"], meta["namespace"])
        outcome = Outcome(status={})
        dependencies: dict[str, DependencyState] = self._external_dependencies(spec)
        workloads_applied = False
        errors: list[str] = []
        try:
            for secret in the_plan.secrets:
                if await self.client.create(secret):
                    log.info("created Secret %s/%s", meta["namespace"], secret["metadata"]["name"])
            # One refused child never stops the others: each is applied, the refusals are reported.
            for manifest in the_plan.dependencies:
                await self._apply_one(manifest, outcome, errors)
            for wait in the_plan.waits:
                dependencies[wait.condition] = await self._dependency_state(meta["namespace"], wait)
            if all(dep.ready for dep in dependencies.values()):
                for manifest in the_plan.workloads:
                    await self._apply_one(manifest, outcome, errors)
                workloads_applied = True
                if prune and not errors:
                    outcome.pruned = await self._prune(meta, the_plan)
            components = await self._components(spec, meta)
        except ApiError as exc:
            errors.append(str(exc))
            components = {}
        apply_error = "; ".join(errors) if errors else None

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

    async def _apply_one(self, manifest: Mapping[str, Any], outcome: Outcome, errors: list[str]) -> None:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        try:
            if kind == "Deployment" and "replicas" not in manifest["spec"]:
                await self._hand_replicas_to_hpa(manifest)
            try:
                await self.client.apply(manifest)
            except ApiError as exc:
                immutable = any(text in str(exc) for text in _IMMUTABLE_STATEFULSET)
                if not (kind == "StatefulSet" and exc.status == 422 and immutable):
                    raise
                await self._recreate_statefulset(manifest)
            outcome.applied.append((kind, name))
        except ApiError as exc:
            errors.append(f"{kind} {name}: {exc}")

    async def _hand_replicas_to_hpa(self, manifest: Mapping[str, Any]) -> None:
        """Keep the current replica count when an HPA takes a Deployment over.

        Our apply leaves ``spec.replicas`` out once autoscaling is on; if our field manager still
        owned it, server-side apply would drop the field and the Deployment would fall to 1 pod.
        A one-off apply by a second manager with the live count keeps it until the HPA writes it.
        """
        meta = manifest["metadata"]
        live = await self.client.get("apps/v1", "Deployment", meta["namespace"], meta["name"])
        if live is None or not _owns_replicas(live, FIELD_MANAGER):
            return
        replicas = int((live.get("spec") or {}).get("replicas") or 1)
        await self.client.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "spec": {"replicas": replicas},
            },
            field_manager=HANDOFF_MANAGER,
        )
        log.info("handed %s/%s's %d replicas to its autoscaler", meta["namespace"], meta["name"], replicas)

    async def _recreate_statefulset(self, manifest: Mapping[str, Any]) -> None:
        """An immutable field changed (volume size, storage class, persistence): replace the object.

        The StatefulSet is deleted with its pods orphaned, so they keep serving, and the new one
        adopts them (same selector) and rolls them to the new template. Existing claims keep their
        size and class: Kubernetes never changes a bound volume behind a StatefulSet.
        """
        meta = manifest["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        log.warning("StatefulSet %s/%s: immutable fields changed; recreating it (pods kept)", namespace, name)
        await self.client.delete("apps/v1", "StatefulSet", namespace, name, propagation="Orphan")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.recreate_timeout
        while await self.client.get("apps/v1", "StatefulSet", namespace, name) is not None:
            if loop.time() > deadline:
                raise ApiError(409, f"StatefulSet {name} is still being deleted; recreating it later")
            await asyncio.sleep(0.2)
        await self.client.apply(manifest)

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
