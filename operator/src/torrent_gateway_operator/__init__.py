"""The Kubernetes operator of Torrent Gateway: reconciles TorrentGateway resources.

Layers, from pure to I/O: ``spec`` (the CR spec model), ``names``, ``config_render`` (spec → the
workloads' own ``Settings``), ``builders`` (spec → child manifests, one module per kind),
``status`` (observations → conditions), ``crd`` (the CRD generated from the spec and status
models); then ``kube`` (a small API client doing server-side apply), ``reconciler`` (one
reconciliation pass) and ``handlers`` (every kopf decorator). ``python -m torrent_gateway_operator``
runs it.
"""

GROUP = "torrentgateway.io"
VERSION = "v1alpha1"
PLURAL = "torrentgateways"
KIND = "TorrentGateway"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "torrent-gateway-operator"

__all__ = ["API_VERSION", "FIELD_MANAGER", "GROUP", "KIND", "PLURAL", "VERSION"]
