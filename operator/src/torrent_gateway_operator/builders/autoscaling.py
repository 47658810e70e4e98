"""HorizontalPodAutoscalers of the gateway and Blossom Deployments."""

from __future__ import annotations

from ..names import Names
from ..spec import TorrentGatewaySpec
from .common import Manifest, Meta, object_metadata


def build_hpa(spec: TorrentGatewaySpec, meta: Meta, component: str) -> Manifest | None:
    section = getattr(spec, component)
    autoscaling = section.autoscaling
    if not autoscaling.enabled:
        return None
    names = Names(meta["name"])
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_metadata(meta, names.component(component), component),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": names.component(component),
            },
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": autoscaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }
