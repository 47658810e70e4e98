"""The Ingress: the API host (gateway, tracker paths) and the Blossom host."""

from __future__ import annotations

from typing import Any

from ..names import Names
from ..spec import TorrentGatewaySpec
from .common import Manifest, Meta, object_metadata


def build_ingress(spec: TorrentGatewaySpec, meta: Meta) -> Manifest | None:
    """API host → gateway (/announce and /scrape → tracker); Blossom host → Blossom."""
    ingress = spec.ingress
    if not ingress.enabled or not ingress.host:
        return None
    names = Names(meta["name"])

    def backend(component: str) -> dict[str, Any]:
        return {"service": {"name": names.component(component), "port": {"name": "http"}}}

    api_paths: list[dict[str, Any]] = []
    if spec.tracker.enabled:
        api_paths += [
            {"path": "/announce", "pathType": "Exact", "backend": backend("tracker")},
            {"path": "/scrape", "pathType": "Exact", "backend": backend("tracker")},
        ]
    api_paths.append({"path": "/", "pathType": "Prefix", "backend": backend("gateway")})
    rules = [{"host": ingress.host, "http": {"paths": api_paths}}]
    hosts = [ingress.host]
    if spec.blossom.enabled and ingress.blossom_host:
        rules.append(
            {
                "host": ingress.blossom_host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend("blossom")}]},
            }
        )
        hosts.append(ingress.blossom_host)
    annotations: dict[str, str] = {}
    if ingress.class_name in (None, "nginx"):
        # Uploads are streamed through: no body size cap, no buffering, long transfers.
        annotations.update(
            {
                "nginx.ingress.kubernetes.io/proxy-body-size": "0",
                "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
                "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
            }
        )
    annotations.update(ingress.annotations)
    ingress_spec: dict[str, Any] = {"rules": rules}
    if ingress.class_name:
        ingress_spec["ingressClassName"] = ingress.class_name
    if ingress.tls.enabled:
        ingress_spec["tls"] = [
            {"hosts": hosts, "secretName": ingress.tls.secret_name or f"{meta['name']}-tls"}
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_metadata(meta, names.ingress, "gateway", annotations=annotations),
        "spec": ingress_spec,
    }
