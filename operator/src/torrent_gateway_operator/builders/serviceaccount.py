"""The ServiceAccount every workload pod runs as."""

from __future__ import annotations

from ..names import Names
from ..spec import TorrentGatewaySpec
from .common import Manifest, Meta, object_metadata


def build_service_account(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    """The workloads' identity; they never call the Kubernetes API, so no token is mounted."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_metadata(meta, Names(meta["name"]).service_account, None),
        "automountServiceAccountToken": False,
    }
