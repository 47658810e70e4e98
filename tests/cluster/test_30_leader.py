"""Two operator replicas on the chart's Lease: one acts, the other waits; kill the leader, the other
takes over within 30 s."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.cluster.conftest import OPERATOR_ACCOUNT, SYSTEM_NAMESPACE
from tests.cluster.kube import Kube, wait_for

LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{SYSTEM_NAMESPACE}/leases/{OPERATOR_ACCOUNT}"


def holder(kube: Kube) -> str:
    lease = kube.get(LEASE)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def gateway(name: str) -> dict[str, object]:
    spec = {"dht": {"enabled": False}, "blossom": {"enabled": False}}
    return {
        "apiVersion": "torrentgateway.io/v1alpha1",
        "kind": "TorrentGateway",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_one_replica_acts_and_the_other_takes_over_when_it_dies(
    kube: Kube, operator_kubeconfig: Path, operator_env: dict[str, str]
) -> None:
    kube.ensure_namespace("leader")
    first = kube.start_operator(operator_kubeconfig, {**operator_env, "HOSTNAME": "replica-a"}, "leader-a")
    wait_for(lambda: holder(kube).startswith("replica-a-"), 30, "replica a leading")
    second = kube.start_operator(operator_kubeconfig, {**operator_env, "HOSTNAME": "replica-b"}, "leader-b")
    assert kube.create_gateway("leader", gateway("one")).status_code == 201
    kube.wait_ready("leader", "one")
    time.sleep(3)  # replica b had every chance to act, had it not waited
    assert holder(kube).startswith("replica-a-")
    log_b = (Path(kube.state.directory) / "logs" / "leader-b.log").read_text()
    assert "reconciled" not in log_b and second.poll() is None

    kube.stop_operator(first, signal.SIGKILL)  # no hand-over: the Lease must expire
    killed = time.monotonic()
    wait_for(lambda: holder(kube).startswith("replica-b-"), 30, "replica b taking over")
    assert kube.create_gateway("leader", gateway("two")).status_code == 201
    kube.wait_ready("leader", "two", timeout=60)
    took_over = time.monotonic() - killed
    assert took_over < 60, took_over
    print(f"failover: replica b leading and reconciling {took_over:.1f}s after replica a was killed")
    kube.stop_operator(second)
    assert holder(kube) == ""  # a clean stop hands the Lease over at once
