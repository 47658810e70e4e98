"""PodDisruptionBudgets: at most one pod of a component down during voluntary disruptions."""

from __future__ import annotations

from ..names import Names, selector
from ..spec import TorrentGatewaySpec
from .common import Manifest, Meta, object_metadata


def build_pdb(spec: TorrentGatewaySpec, meta: Meta, component: str) -> Manifest:
    """At most one pod of a component down at a time during drains and upgrades."""
    names = Names(meta["name"])
    name = names.minio if component == "minio" else names.component(component)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_metadata(meta, name, component),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(meta["name"], component)}},
    }
