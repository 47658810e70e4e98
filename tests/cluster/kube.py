"""What the cluster tests do to the control plane: API calls as admin, kubectl, helm, the operator.

``Kube`` talks to the API with the harness's admin token (to set up and to observe); the operator
under test gets a kubeconfig holding a token of the chart's ServiceAccount (TokenRequest through
``kubectl create token``), so it has exactly the rights the chart grants.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from tests.cluster.harness import ROOT, ClusterState, free_port, write_kubeconfig

T = TypeVar("T")
GROUP_PATH = "/apis/torrentgateway.io/v1alpha1"


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"[:3000])


def condition(obj: Mapping[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for entry in ((obj or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return dict(entry)
    return None


class Kube:
    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.http = state.client()
        self.env = {**os.environ, "KUBECONFIG": str(state.kubeconfig)}
        self.operators: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.operators:
            self._stop(proc)
        self.http.close()

    # ------------------------------------------------------------------------------------ tools

    def run(self, tool: str, *args: str, input: str | None = None, check: bool = True, timeout: float = 180):  # type: ignore[no-untyped-def]
        result = subprocess.run(
            [str(self.state.bin / tool), *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, **kwargs)

    def helm(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, **kwargs)

    # ---------------------------------------------------------------------------------- objects

    def get(self, path: str) -> dict[str, Any] | None:
        response = self.http.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def items(self, path: str, **params: str) -> list[dict[str, Any]]:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return list(response.json().get("items") or [])

    def ensure_namespace(self, name: str) -> None:
        response = self.http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert response.status_code in (201, 409), response.text

    def gateway_path(self, namespace: str, name: str | None = None) -> str:
        path = f"{GROUP_PATH}/namespaces/{namespace}/torrentgateways"
        return f"{path}/{name}" if name else path

    def gateway(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(self.gateway_path(namespace, name))

    def create_gateway(self, namespace: str, body: Mapping[str, Any]) -> httpx.Response:
        return self.http.post(self.gateway_path(namespace), json=dict(body))

    def patch_gateway(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        response = self.http.patch(
            self.gateway_path(namespace, name),
            content=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def apply_file(self, namespace: str, path: Path) -> list[dict[str, Any]]:
        self.kubectl("apply", "-n", namespace, "-f", str(path))
        return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]

    def ready(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.gateway(namespace, name)
        ready = condition(obj, "Ready")
        if (
            ready
            and ready["status"] == "True"
            and ready.get("observedGeneration") == obj["metadata"]["generation"]
        ):  # type: ignore[index]
            return obj
        return None

    def wait_ready(self, namespace: str, name: str, timeout: float = 120) -> dict[str, Any]:
        return wait_for(
            lambda: self.ready(namespace, name),
            timeout,
            f"TorrentGateway {namespace}/{name} Ready=True (status: "
            f"{json.dumps((self.gateway(namespace, name) or {}).get('status'))})",
        )

    # --------------------------------------------------------------------------------- operator

    def service_account_kubeconfig(self, namespace: str, account: str, path: Path) -> Path:
        """A kubeconfig holding a fresh token of this ServiceAccount (TokenRequest API)."""
        token = self.kubectl("create", "token", account, "-n", namespace, "--duration", "3h").stdout.strip()
        assert token.count(".") == 2, "not a JWT"
        return write_kubeconfig(path, self.state.server, self.state.ca_file, token, f"{namespace}-{account}")

    def chart_operator_env(self, namespace: str, deployment: str) -> dict[str, str]:
        """The operator's environment exactly as the chart's Deployment sets it."""
        obj = self.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}")
        assert obj is not None, f"no Deployment {namespace}/{deployment}"
        (container,) = obj["spec"]["template"]["spec"]["containers"]
        return {entry["name"]: entry["value"] for entry in container["env"] if "value" in entry}

    def start_operator(
        self, kubeconfig: Path, env: Mapping[str, str], log_name: str
    ) -> subprocess.Popen[bytes]:
        """The operator as the chart runs it, as a local process with the given rights."""
        logs = Path(self.state.directory) / "logs"
        logs.mkdir(exist_ok=True)
        full_env = {
            **os.environ,
            **env,
            "KUBECONFIG": str(kubeconfig),
            # TGW_CLUSTER_OPERATOR_SRC: run another operator tree (e.g. main's, to see a test fail on it)
            "PYTHONPATH": os.pathsep.join(
                [
                    os.environ.get("TGW_CLUSTER_OPERATOR_SRC", str(ROOT / "operator" / "src")),
                    str(ROOT / "workloads" / "src"),
                ]
            ),
            "TGW_OPERATOR_LIVENESS_HOST": "127.0.0.1",
            "TGW_OPERATOR_LIVENESS_PORT": str(free_port()),
            "TGW_OPERATOR_LOG_FORMAT": "plain",
        }
        log = open(logs / f"{log_name}.log", "ab")  # noqa: SIM115 - the child keeps the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "torrent_gateway_operator"],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.operators.append(proc)
        return proc

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop_operator(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        self._stop(proc, sig)
        if proc in self.operators:
            self.operators.remove(proc)

    @contextlib.contextmanager
    def operator(
        self, kubeconfig: Path, env: Mapping[str, str], log_name: str
    ) -> Iterator[subprocess.Popen[bytes]]:
        proc = self.start_operator(kubeconfig, env, log_name)
        try:
            yield proc
        finally:
            self.stop_operator(proc)
