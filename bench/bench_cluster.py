"""Reconcile time of the operator on a real control plane (tests/cluster): CR → children → Ready.

The control plane is the cluster suite's (etcd, kube-apiserver, kube-controller-manager and the
harness's fake kubelet on 127.0.0.1; started here unless ``make cluster-up`` runs one). The chart
is installed with helm, and the operator runs as ``python -m torrent_gateway_operator`` with a token
of the chart's ServiceAccount, so every request goes through real authentication, RBAC, admission
(OwnerReferencesPermissionEnforcement), server-side apply and etcd. Measured for 1 and 50
TorrentGateways created at once (external storage, the same spec as ``bench_reconcile.py``):

- applied: until every child of every gateway exists;
- ready: until every gateway reports Ready=True (the Deployment controller counted the pods the
  fake kubelet reported Ready, the operator read that back on its next pass).

Anchor, same run, same apiserver: server-side applying the same child manifests directly
(Secrets created, then one apply per child, sequentially) with the operator's own API client and
the admin token, no kopf. ``bench_reconcile.py`` gives the same figures on the emulator.

Run: ``python bench/bench_cluster.py [--counts 1 50]``. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kopf  # noqa: E402
from common_operator import apply_directly, children, counts, gateway  # noqa: E402
from torrent_gateway_operator.kube import resource_path  # noqa: E402

from tests.cluster.harness import ClusterState, down, up  # noqa: E402
from tests.cluster.kube import Kube  # noqa: E402

TIMEOUT = 300.0
RELEASE, NAMESPACE = "bench", "bench-system"


def missing(kube: Kube, namespace: str, wanted: dict[str, list[dict[str, Any]]]) -> int:
    """How many wanted children do not exist yet (one list per kind for the whole namespace)."""
    live: set[tuple[str, str]] = set()
    kinds = {(m["apiVersion"], m["kind"]) for ms in wanted.values() for m in ms}
    for api_version, kind in kinds:
        for obj in kube.items(resource_path(api_version, kind, namespace)):
            live.add((kind, obj["metadata"]["name"]))
    return sum((m["kind"], m["metadata"]["name"]) not in live for ms in wanted.values() for m in ms)


def run_operator(kube: Kube, count: int, namespace: str) -> tuple[float, float]:
    kube.ensure_namespace(namespace)
    started = time.perf_counter()
    wanted = {}
    for i in range(count):
        created = kube.create_gateway(namespace, gateway(f"gw{i}"))
        created.raise_for_status()
        wanted[f"gw{i}"] = children(namespace, f"gw{i}", created.json()["metadata"]["uid"])
    deadline = started + TIMEOUT
    applied = ready = None
    pending = set(wanted)
    while time.perf_counter() < deadline and (applied is None or pending):
        if applied is None and missing(kube, namespace, wanted) == 0:
            applied = time.perf_counter() - started
        pending = {name for name in pending if kube.ready(namespace, name) is None}
        if not pending and applied is not None:
            ready = time.perf_counter() - started
            break
        time.sleep(0.05)
    if applied is None or ready is None:
        raise TimeoutError(f"{len(pending)} of {count} gateways not Ready within {TIMEOUT:.0f} s")
    return applied, ready


def run_anchor(kube: Kube, count: int, namespace: str) -> float:
    kube.ensure_namespace(namespace)
    started = time.perf_counter()
    state = kube.state
    connection = kopf.ConnectionInfo(server=state.server, token=state.token, ca_path=str(state.ca_file))
    asyncio.run(apply_directly(connection, count, namespace))
    return time.perf_counter() - started


def main() -> int:
    rounds = counts(__doc__.splitlines()[0])
    state = ClusterState.load(ROOT / ".cluster")
    started_here = state is None or not state.alive()
    if started_here:
        state = up(ROOT / ".cluster")
    suffix = str(int(time.time()))
    with Kube(state) as kube, tempfile.TemporaryDirectory() as tmp:
        # The CRD comes with this release unless another one (a test run's) installed it already.
        has_crd = kube.get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/torrentgateways.torrentgateway.io"
        )
        kube.helm(
            "upgrade", "--install", RELEASE, str(ROOT / "charts" / "torrent-gateway"), "-n", NAMESPACE,
            "--create-namespace", "--set", f"crds.enabled={str(has_crd is None).lower()}",
            "--wait", "--timeout", "120s",
        )  # fmt: skip
        kubeconfig = kube.service_account_kubeconfig(
            NAMESPACE, f"{RELEASE}-torrent-gateway", Path(tmp) / "kc"
        )
        env = {
            **kube.chart_operator_env(NAMESPACE, f"{RELEASE}-torrent-gateway"),
            "TGW_OPERATOR_RESYNC_INTERVAL": "5",
        }
        with kube.operator(kubeconfig, env, "operator-bench"):
            # Not timed: the operator's start (leader Lease, kopf's first lists and watches).
            run_operator(kube, 1, f"bench-warmup-{suffix}")
            print(
                f"cluster reconcile: TorrentGateway (external storage, {len(children('x', 'gw0', 'u'))} "
                "children each), real apiserver"
            )
            print(
                f"{'gateways':>8}  {'applied s':>9}  {'ready s':>7}  {'anchor s':>8}  {'applied/anchor':>14}"
            )
            for count in rounds:
                applied, ready = run_operator(kube, count, f"bench-op-{count}-{suffix}")
                anchor = run_anchor(kube, count, f"bench-anchor-{count}-{suffix}")
                print(
                    f"{count:>8}  {applied:>9.2f}  {ready:>7.2f}  {anchor:>8.2f}  {applied / anchor:>14.2f}",
                    flush=True,
                )
        kube.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", check=False)
    if started_here:
        down(ROOT / ".cluster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
