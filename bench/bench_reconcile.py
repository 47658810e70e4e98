"""Reconcile time of the operator: from TorrentGateway creation to every child applied.

The operator runs as the chart runs it (``python -m torrent_gateway_operator``, a separate
process) against the emulated API server of the tests (kmock's KubernetesEmulator with the
test shim) on 127.0.0.1. Measured for 1 and for 50 TorrentGateways created at once (external
storage, so nothing waits for MinIO or Redis pods that the emulator cannot run).

Anchor, same run, same emulator: the bare minimum any operator must do for the same result,
i.e. server-side applying the same child manifests directly (create the generated Secrets,
then one apply per child, sequentially) with the operator's own API client, no kopf.

Run: ``python bench/bench_reconcile.py [--counts 1 50]``. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import kopf  # noqa: E402
import yaml  # noqa: E402
from common import free_port, stop  # noqa: E402
from common_operator import apply_directly, children, counts, gateway  # noqa: E402
from torrent_gateway_operator.kube import RESOURCES  # noqa: E402

from tests.integration.operator.emulator import Api, EmulatorThread, live_keys  # noqa: E402

TIMEOUT = 180.0
PLURALS = {kind: plural for (_, kind), plural in RESOURCES.items()}


def expected(namespace: str, name: str, uid: str) -> set[tuple[str, str | None, str]]:
    return {(PLURALS[m["kind"]], namespace, m["metadata"]["name"]) for m in children(namespace, name, uid)}


def wait_all(emulator: EmulatorThread, wanted: set[tuple[str, str | None, str]], started: float) -> float:
    deadline = started + TIMEOUT
    while time.perf_counter() < deadline:
        if wanted <= emulator.call(live_keys):
            return time.perf_counter() - started
        time.sleep(0.01)
    raise TimeoutError(f"children not all applied within {TIMEOUT:.0f} s")


def run_operator(emulator: EmulatorThread, api: Api, count: int, namespace: str) -> tuple[float, float]:
    """(seconds until every child of every gateway exists, mean per-gateway latency)."""
    names = [f"gw{i}" for i in range(count)]
    started = time.perf_counter()
    uids = {}
    for name in names:
        created = api.create(gateway(name, namespace))
        uids[name] = created["metadata"]["uid"]
    pending = {name: expected(namespace, name, uids[name]) for name in names}
    latencies: list[float] = []
    deadline = started + TIMEOUT
    while pending and time.perf_counter() < deadline:
        live = emulator.call(live_keys)
        for name in [n for n, wanted in pending.items() if wanted <= live]:
            latencies.append(time.perf_counter() - started)
            del pending[name]
        time.sleep(0.01)
    if pending:
        raise TimeoutError(f"{len(pending)} gateways not reconciled within {TIMEOUT:.0f} s")
    return max(latencies), sum(latencies) / len(latencies)


def run_anchor(emulator: EmulatorThread, count: int, namespace: str) -> float:
    wanted = set().union(*(expected(namespace, f"gw{i}", f"anchor-{i}") for i in range(count)))
    started = time.perf_counter()
    asyncio.run(apply_directly(kopf.ConnectionInfo(server=emulator.url, token="bench"), count, namespace))
    return wait_all(emulator, wanted, started)


def main() -> int:
    rounds = counts(__doc__.splitlines()[0])

    with EmulatorThread() as emulator, tempfile.TemporaryDirectory() as tmp:
        api = Api(emulator.url)
        api.create(yaml.safe_load((ROOT / "crds" / "torrentgateways.yaml").read_text()))
        kubeconfig = emulator.write_kubeconfig(Path(tmp) / "kubeconfig")
        liveness = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "TGW_OPERATOR_LIVENESS_HOST": "127.0.0.1",
            "TGW_OPERATOR_LIVENESS_PORT": str(liveness),
            "TGW_OPERATOR_LOG_FORMAT": "plain",
            "TGW_OPERATOR_RESYNC_INTERVAL": "600",
        }
        log = open(Path(tmp) / "operator.log", "wb")  # noqa: SIM115 - closed in finally
        operator = subprocess.Popen(
            [sys.executable, "-m", "torrent_gateway_operator"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{liveness}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or operator.poll() is not None:
                    raise RuntimeError("the operator did not start")
                time.sleep(0.1)
            children = len(expected("x", "gw0", "u"))
            print(
                f"reconcile: TorrentGateway (external storage, {children} children each) → every child applied"
            )
            print(f"{'gateways':>8}  {'operator s':>10}  {'mean/gw s':>9}  {'anchor s':>8}  {'ratio':>6}")
            for count in rounds:
                total, mean = run_operator(emulator, api, count, f"op-{count}")
                anchor = run_anchor(emulator, count, f"anchor-{count}")
                print(
                    f"{count:>8}  {total:>10.3f}  {mean:>9.3f}  {anchor:>8.3f}  {total / anchor:>6.2f}",
                    flush=True,
                )
        finally:
            stop(operator, timeout=30)
            log.close()
            api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
