"""The operator as the chart runs it: ``python -m torrent_gateway_operator`` (``kopf run``) in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from torrent_gateway_operator import API_VERSION, KIND

from tests.support.servers import free_port

from .conftest import FAST_OPERATOR_ENV, condition, wait_for
from .emulator import Api, EmulatorThread


def test_kopf_run_subprocess_reconciles_and_serves_its_liveness_probe(
    cluster: tuple[EmulatorThread, Api, Path], tmp_path: Path
) -> None:
    emulator, api, kubeconfig = cluster
    liveness = free_port()
    env = {
        **os.environ,
        **FAST_OPERATOR_ENV,
        "KUBECONFIG": str(kubeconfig),
        "TGW_OPERATOR_LIVENESS_HOST": "127.0.0.1",
        "TGW_OPERATOR_LIVENESS_PORT": str(liveness),
        "TGW_OPERATOR_LOG_FORMAT": "json",
    }
    log = (tmp_path / "operator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "torrent_gateway_operator"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(lambda: _alive(liveness), timeout=30, what="kopf's /healthz")
        api.create(
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {"name": "sub", "namespace": "proc"},
                "spec": {
                    "storage": {
                        "minio": {
                            "external": {"endpoint": "s3.example.org", "credentialsSecret": {"name": "s3"}}
                        }
                    },
                    "redis": {"external": {"urlSecret": {"name": "redis"}}},
                },
            }
        )
        wait_for(
            lambda: api.get("Deployment", "proc", "sub-gateway"), timeout=30, what="the gateway Deployment"
        )
        wait_for(lambda: condition(api.get(KIND, "proc", "sub"), "Ready"), what="a Ready condition")
        api.delete(KIND, "proc", "sub")
        wait_for(lambda: api.get(KIND, "proc", "sub") is None, timeout=30, what="the finalizer released")
        assert api.get("Deployment", "proc", "sub-gateway") is None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    output = (tmp_path / "operator.log").read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert '"message":' in output  # json log lines, as configured


def _alive(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
