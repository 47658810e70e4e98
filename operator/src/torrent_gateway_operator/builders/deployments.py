"""Deployments of the stateless components: gateway, Blossom, tracker."""

from __future__ import annotations

from typing import Any

from ..names import Names, selector
from ..spec import TorrentGatewaySpec
from .common import Manifest, Meta, object_metadata
from .pods import pod_template


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
        "template": pod_template(spec, meta, component),
    }
    autoscaling = getattr(section, "autoscaling", None)
    if autoscaling is None or not autoscaling.enabled:
        # With an HPA the replica count is left out so the autoscaler owns it, not our apply.
        deployment_spec = {"replicas": section.replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_metadata(meta, names.component(component), component),
        "spec": deployment_spec,
    }
