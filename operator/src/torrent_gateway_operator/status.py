"""What the operator observed → the TorrentGateway's status: conditions, replicas, endpoints.

Pure: the reconciler gathers an ``Observation`` and this module turns it into the status patch,
whose shape ``TorrentGatewayStatus`` states (the CRD's status schema is generated from it).
Conditions follow the Kubernetes conventions: one entry per type, ``True``/``False`` with a
CamelCase reason and a message, ``lastTransitionTime`` kept while the status holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .builders import GATEWAY_PORT, TRACKER_PORT
from .config_render import RenderedConfig
from .names import Names
from .spec import TorrentGatewaySpec

READY, PROGRESSING, DEGRADED = "Ready", "Progressing", "Degraded"
OBJECT_STORE_READY, REDIS_READY = "ObjectStoreReady", "RedisReady"


# ------------------------------------------------------------------- the status' shape (CRD schema)


class _StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Condition(_StatusModel):
    """One aspect of the resource's state."""

    type: str = Field(
        min_length=1,
        description="Ready, Progressing, Degraded, or one per dependency (ObjectStoreReady, RedisReady).",
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str | None = Field(None, description="A CamelCase word saying why.")
    message: str | None = Field(None, description="A human-readable explanation.")
    last_transition_time: str | None = Field(
        None, description="When the status last changed.", json_schema_extra={"format": "date-time"}
    )
    observed_generation: int | None = Field(
        None, ge=0, description="The .metadata.generation this condition was computed for."
    )


class ComponentReplicas(_StatusModel):
    """Replicas of one component."""

    replicas: int | None = Field(None, description="Pods the workload wants.")
    ready_replicas: int | None = Field(None, description="Pods passing their readiness probe.")


class ComponentsStatus(_StatusModel):
    gateway: ComponentReplicas | None = None
    blossom: ComponentReplicas | None = None
    tracker: ComponentReplicas | None = None
    dht: ComponentReplicas | None = None
    minio: ComponentReplicas | None = None
    redis: ComponentReplicas | None = None


class EndpointsStatus(_StatusModel):
    api: str | None = Field(None, description="The REST API and web UI.")
    blossom: str | None = Field(None, description="The Blossom server.")
    tracker_http: str | None = Field(None, description="HTTP/WebSocket announce URL.")
    tracker_udp: str | None = Field(None, description="UDP announce URL.")
    object_store: str | None = Field(None, description="The S3 endpoint the workloads use.")


class TorrentGatewayStatus(_StatusModel):
    """What the operator observed."""

    observed_generation: int | None = Field(
        None, ge=0, description="The .metadata.generation the operator last reconciled."
    )
    url: str | None = Field(None, description="The public URL of the gateway.")
    conditions: list[Condition] | None = Field(
        None,
        description="Ready, Progressing, Degraded, and one per dependency.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    components: ComponentsStatus | None = Field(None, description="Ready replicas per component.")
    endpoints: EndpointsStatus | None = Field(None, description="Public endpoints.")


@dataclass(frozen=True)
class DependencyState:
    ready: bool
    reason: str
    message: str


@dataclass(frozen=True)
class ComponentState:
    replicas: int  # what the workload wants (0 while it does not exist yet)
    ready_replicas: int

    @property
    def serving(self) -> bool:
        return self.ready_replicas >= min(self.replicas, 1)


@dataclass(frozen=True)
class Observation:
    generation: int
    spec_error: str | None = None
    apply_error: str | None = None
    dependencies: Mapping[str, DependencyState] = field(default_factory=dict)
    workloads_applied: bool = False
    components: Mapping[str, ComponentState] = field(default_factory=dict)
    url: str | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)


def _condition(kind: str, ok: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def conditions(obs: Observation) -> list[dict[str, Any]]:
    """Ready, Progressing, Degraded and one per dependency, without transition times."""
    gen = obs.generation
    out: list[dict[str, Any]] = []
    if obs.spec_error is not None:
        out.append(_condition(READY, False, "InvalidSpec", obs.spec_error, gen))
        out.append(
            _condition(PROGRESSING, False, "InvalidSpec", "Nothing is applied until the spec is fixed.", gen)
        )
        out.append(_condition(DEGRADED, True, "InvalidSpec", obs.spec_error, gen))
        return out

    waiting = sorted(name for name, dep in obs.dependencies.items() if not dep.ready)
    behind = sorted(name for name, comp in obs.components.items() if comp.ready_replicas < comp.replicas)
    not_serving = sorted(name for name, comp in obs.components.items() if not comp.serving)

    if obs.apply_error is not None:
        ready = (False, "ApplyFailed", obs.apply_error)
    elif waiting:
        ready = (False, "WaitingForDependencies", "Waiting for " + ", ".join(waiting) + ".")
    elif not obs.workloads_applied:
        ready = (False, "Applying", "Applying the components.")
    elif not_serving:
        ready = (False, "ComponentsNotReady", _replicas_message(obs, not_serving))
    else:
        ready = (True, "AllComponentsReady", "Every component has ready pods.")
    out.append(_condition(READY, *ready, gen))

    if obs.apply_error is not None:
        progressing = (False, "ApplyFailed", obs.apply_error)
    elif waiting:
        progressing = (True, "WaitingForDependencies", "Waiting for " + ", ".join(waiting) + ".")
    elif behind:
        progressing = (True, "RollingOut", _replicas_message(obs, behind))
    else:
        progressing = (False, "Complete", "Every component runs its desired replicas.")
    out.append(_condition(PROGRESSING, *progressing, gen))

    if obs.apply_error is not None:
        out.append(_condition(DEGRADED, True, "ApplyFailed", obs.apply_error, gen))
    else:
        out.append(_condition(DEGRADED, False, "AsExpected", "The spec is valid and was applied.", gen))

    for kind in sorted(obs.dependencies):
        dep = obs.dependencies[kind]
        out.append(_condition(kind, dep.ready, dep.reason, dep.message, gen))
    return out


def _replicas_message(obs: Observation, names: Sequence[str]) -> str:
    parts = [f"{n} {obs.components[n].ready_replicas}/{obs.components[n].replicas}" for n in names]
    return "Ready replicas: " + ", ".join(parts) + "."


def merge_transition_times(
    new: list[dict[str, Any]], previous: Sequence[Mapping[str, Any]] | None, now: str
) -> list[dict[str, Any]]:
    """Keep each condition's lastTransitionTime while its status does not change."""
    before = {c.get("type"): c for c in previous or ()}
    merged = []
    for condition in new:
        old = before.get(condition["type"])
        same = old is not None and old.get("status") == condition["status"] and old.get("lastTransitionTime")
        merged.append({**condition, "lastTransitionTime": old["lastTransitionTime"] if same else now})  # type: ignore[index]
    return merged


def status_patch(
    obs: Observation, previous_conditions: Sequence[Mapping[str, Any]] | None, now: str
) -> dict[str, Any]:
    patch: dict[str, Any] = {
        "observedGeneration": obs.generation,
        "conditions": merge_transition_times(conditions(obs), previous_conditions, now),
    }
    if obs.url is not None:
        patch["url"] = obs.url
    if obs.components:
        patch["components"] = {
            name: {"replicas": comp.replicas, "readyReplicas": comp.ready_replicas}
            for name, comp in sorted(obs.components.items())
        }
    if obs.endpoints:
        patch["endpoints"] = dict(obs.endpoints)
    return patch


def endpoints(
    spec: TorrentGatewaySpec, rendered: RenderedConfig, name: str, namespace: str
) -> tuple[str, dict[str, str]]:
    """(the gateway URL for the printer column, public endpoints) of a valid spec."""
    names = Names(name)
    in_cluster = f"http://{names.component('gateway')}.{namespace}.svc:{GATEWAY_PORT}"
    public = spec.effective_public_url
    url = public or in_cluster
    out = {"api": url, "objectStore": rendered.settings.storage.s3.endpoint}
    if spec.blossom_public_url:
        out["blossom"] = spec.blossom_public_url
    if spec.tracker.enabled:
        announce_base = (spec.tracker.public_url or url).rstrip("/")
        out["trackerHttp"] = f"{announce_base}/announce"
        if rendered.settings.tracker.udp and spec.tracker.public_url:
            parts = urlsplit(spec.tracker.public_url)
            host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
            out["trackerUdp"] = f"udp://{host}:{parts.port or TRACKER_PORT}/announce"
    return url, out


def merge_patch(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch turning ``current`` status into ``wanted`` (only the keys we own).

    Maps we own (components, endpoints) lose the entries we no longer report: a merge patch
    needs an explicit null for that. Empty when nothing changes, so the timer writes nothing.
    """
    patch: dict[str, Any] = {}
    for key, value in wanted.items():
        old = current.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            delta = {k: v for k, v in value.items() if old.get(k) != v}
            delta.update({k: None for k in old if k not in value})
            if delta:
                patch[key] = delta
        elif old != value:
            patch[key] = value
    return patch
