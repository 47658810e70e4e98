"""Observations → conditions, replicas and endpoints; and the operator's kopf command line."""

from __future__ import annotations

from typing import Any

from torrent_gateway_operator.__main__ import kopf_arguments
from torrent_gateway_operator.config import OperatorConfig
from torrent_gateway_operator.config_render import render
from torrent_gateway_operator.spec import parse_spec
from torrent_gateway_operator.status import (
    ComponentState,
    DependencyState,
    Observation,
    conditions,
    endpoints,
    merge_patch,
    status_patch,
)

from .test_builders import SPECS


def by_type(items: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in items}


def test_invalid_spec_is_degraded_and_not_ready() -> None:
    result = by_type(conditions(Observation(generation=3, spec_error="spec.redis: set exactly one")))
    assert result == {
        "Ready": ("False", "InvalidSpec"),
        "Progressing": ("False", "InvalidSpec"),
        "Degraded": ("True", "InvalidSpec"),
    }


def test_waiting_for_a_dependency_is_progressing() -> None:
    obs = Observation(
        generation=1,
        dependencies={
            "RedisReady": DependencyState(False, "StatefulSetNotReady", "demo-redis: 0/1 pods ready."),
            "ObjectStoreReady": DependencyState(True, "StatefulSetReady", "demo-minio: 1/1 pods ready."),
        },
    )
    result = by_type(conditions(obs))
    assert result["Ready"] == ("False", "WaitingForDependencies")
    assert result["Progressing"] == ("True", "WaitingForDependencies")
    assert result["Degraded"] == ("False", "AsExpected")
    assert result["RedisReady"] == ("False", "StatefulSetNotReady")
    assert result["ObjectStoreReady"] == ("True", "StatefulSetReady")


def test_rollout_then_ready() -> None:
    rolling = Observation(
        generation=1,
        workloads_applied=True,
        components={"gateway": ComponentState(2, 0), "dht": ComponentState(1, 1)},
    )
    assert by_type(conditions(rolling))["Ready"] == ("False", "ComponentsNotReady")
    assert by_type(conditions(rolling))["Progressing"] == ("True", "RollingOut")
    serving = Observation(
        generation=1,
        workloads_applied=True,
        components={"gateway": ComponentState(2, 1), "dht": ComponentState(1, 1)},
    )
    assert by_type(conditions(serving))["Ready"] == ("True", "AllComponentsReady")
    assert by_type(conditions(serving))["Progressing"] == ("True", "RollingOut")  # 1 of 2 gateways
    done = Observation(generation=1, workloads_applied=True, components={"gateway": ComponentState(2, 2)})
    assert by_type(conditions(done))["Progressing"] == ("False", "Complete")


def test_api_refusal_is_degraded() -> None:
    result = by_type(conditions(Observation(generation=1, apply_error="HTTP 403: forbidden")))
    assert result["Degraded"] == ("True", "ApplyFailed") and result["Ready"] == ("False", "ApplyFailed")


def test_transition_times_hold_while_the_status_holds() -> None:
    obs = Observation(generation=1, workloads_applied=True, components={"gateway": ComponentState(1, 0)})
    first = status_patch(obs, None, "2026-01-01T00:00:00Z")
    second = status_patch(obs, first["conditions"], "2026-01-01T00:05:00Z")
    assert first == second
    ready = Observation(generation=2, workloads_applied=True, components={"gateway": ComponentState(1, 1)})
    third = {
        c["type"]: c for c in status_patch(ready, second["conditions"], "2026-01-01T00:09:00Z")["conditions"]
    }
    assert third["Ready"]["lastTransitionTime"] == "2026-01-01T00:09:00Z"
    assert third["Degraded"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert third["Ready"]["observedGeneration"] == 2


def test_status_patch_carries_generation_replicas_and_endpoints() -> None:
    spec = parse_spec(SPECS["full"])
    url, public = endpoints(spec, render(spec, "media", "prod"), "media", "prod")
    obs = Observation(
        generation=4,
        workloads_applied=True,
        components={"tracker": ComponentState(3, 2)},
        url=url,
        endpoints=public,
    )
    patch = status_patch(obs, None, "2026-01-01T00:00:00Z")
    assert patch["observedGeneration"] == 4
    assert patch["url"] == "https://media.example.org"
    assert patch["components"] == {"tracker": {"replicas": 3, "readyReplicas": 2}}
    assert patch["endpoints"] == {
        "api": "https://media.example.org",
        "blossom": "https://blossom.media.example.org",
        "objectStore": "media-minio.prod.svc:9000",
        "trackerHttp": "http://tracker.media.example.org:6969/announce",
        "trackerUdp": "udp://tracker.media.example.org:6969/announce",
    }


def test_without_a_public_url_the_status_shows_the_in_cluster_url() -> None:
    spec = parse_spec({})
    url, public = endpoints(spec, render(spec, "demo", "media"), "demo", "media")
    assert url == "http://demo-gateway.media.svc:9876"
    assert "trackerUdp" not in public


def test_kopf_command_line_follows_the_operator_config() -> None:
    default = kopf_arguments(OperatorConfig(namespaces=""))
    assert default[:3] == ["run", "--module", "torrent_gateway_operator.handlers"]
    assert "--all-namespaces" in default and "--standalone" in default
    # Leader election happens on a Lease before kopf starts: kopf itself always runs standalone.
    scoped = kopf_arguments(
        OperatorConfig(namespaces="media, video", leader_election_lease="tgw", liveness_port=0)
    )
    assert scoped.count("--namespace") == 2 and "--standalone" in scoped and "--peering" not in scoped
    assert "--liveness" not in scoped


def test_merge_patch_drops_entries_no_longer_reported_and_is_empty_when_unchanged() -> None:
    current = {
        "observedGeneration": 1,
        "components": {"gateway": {"replicas": 2}, "blossom": {"replicas": 2}},
        "endpoints": {"api": "x", "blossom": "y"},
    }
    wanted = {"observedGeneration": 2, "components": {"gateway": {"replicas": 2}}, "endpoints": {"api": "x"}}
    assert merge_patch(current, wanted) == {
        "observedGeneration": 2,
        "components": {"blossom": None},
        "endpoints": {"blossom": None},
    }
    assert merge_patch(wanted, wanted) == {}
