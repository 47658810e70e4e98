"""The ConfigMap carrying the workloads' rendered settings file."""

from __future__ import annotations

from ..config_render import CONFIG_KEY
from ..spec import TorrentGatewaySpec
from .common import Manifest, Meta, object_metadata, render_context


def build_configmap(spec: TorrentGatewaySpec, meta: Meta) -> Manifest:
    """The workloads' settings file (secrets excluded: they come from env vars)."""
    names, rendered = render_context(spec, meta)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_metadata(meta, names.config, None),
        "data": {CONFIG_KEY: rendered.config_yaml},
    }
