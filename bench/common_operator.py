"""What the two operator benchmarks share: the TorrentGateway they create, its children, the anchor.

``bench_reconcile.py`` (the emulated API server) and ``bench_cluster.py`` (a real kube-apiserver)
time the operator on the same resource, against the same anchor: server-side applying the same
child manifests directly with the operator's own API client, no kopf. Imported as
``common_operator`` (``bench/`` is first on ``sys.path`` when a script runs).
"""

from __future__ import annotations

import argparse
from typing import Any

import kopf
from torrent_gateway_operator import API_VERSION, KIND
from torrent_gateway_operator.builders import Manifest, plan
from torrent_gateway_operator.kube import KubeClient
from torrent_gateway_operator.spec import parse_spec

# External storage, so nothing waits for MinIO or Redis pods.
SPEC: dict[str, Any] = {
    "storage": {
        "minio": {"external": {"endpoint": "s3.example.org:9000", "credentialsSecret": {"name": "s3"}}}
    },
    "redis": {"external": {"urlSecret": {"name": "redis"}}},
}


def gateway(name: str, namespace: str | None = None) -> dict[str, Any]:
    """The TorrentGateway object the benchmarks create."""
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": SPEC}


def children(namespace: str, name: str, uid: str) -> list[Manifest]:
    """Every child the operator makes for one gateway: generated Secrets, then applied objects."""
    the_plan = plan(parse_spec(SPEC), {"name": name, "namespace": namespace, "uid": uid})
    return [*the_plan.secrets, *the_plan.applied]


async def apply_directly(connection: kopf.ConnectionInfo, count: int, namespace: str) -> None:
    """The anchor: create the Secrets, then one server-side apply per child, sequentially."""
    client = KubeClient()
    await client.login(connection)
    try:
        for i in range(count):
            the_plan = plan(
                parse_spec(SPEC), {"name": f"gw{i}", "namespace": namespace, "uid": f"anchor-{i}"}
            )
            for secret in the_plan.secrets:
                await client.create(secret)
            for manifest in the_plan.applied:
                await client.apply(manifest)
    finally:
        await client.close()


def counts(description: str) -> list[int]:
    """``--counts``: how many gateways each round creates at once (default 1, then 50)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 50])
    return list(parser.parse_args().counts)
