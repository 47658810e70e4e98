"""A real Kubernetes control plane on loopback for the cluster suite: start, describe, stop.

``python -m tests.cluster.harness up|down|status`` (``make cluster-up`` / ``cluster-down``). ``up``
builds what is missing (``build.sh``: etcd, kube-apiserver, kube-controller-manager, kubectl, helm,
cached by version), then starts, on 127.0.0.1 with free ports:

- etcd (its data in ``.cluster/etcd``);
- kube-apiserver with RBAC + Node authorization, the OwnerReferencesPermissionEnforcement admission
  plugin, a ServiceAccount signing key (so TokenRequest works) and an admin token in system:masters;
- kube-controller-manager (garbage collector, Deployment/ReplicaSet/StatefulSet controllers, …);
- ``fake_kubelet``: no kubelet can run here, so this loop of ours plays the node: one Node object,
  pods bound to it and reported Running/Ready, deleted pods finalized.

It writes ``.cluster/kubeconfig`` (admin), ``.cluster/bin`` (a link to the binaries) and
``.cluster/state.json`` (pids, ports), so a later ``down`` stops exactly what ``up`` started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = os.environ.get("K8S_VERSION", "1.37.2")
CACHE = Path(
    os.environ.get("TG_K8S_CACHE", Path.home() / ".cache" / "torrent-gateway" / f"k8s-{K8S_VERSION}")
)
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm")
SERVICE_CIDR = "10.96.0.0/16"
ADMIN_USER = "cluster-admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ClusterState:
    """What ``up`` started; enough for tests to reach it and for ``down`` to stop it."""

    directory: str
    server: str
    token: str
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return Path(self.directory) / "kubeconfig"

    @property
    def bin(self) -> Path:
        return Path(self.directory) / "bin"

    @property
    def ca_file(self) -> Path:
        return Path(self.directory) / "pki" / "ca.crt"

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        path = directory / "state.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self) -> None:
        (Path(self.directory) / "state.json").write_text(json.dumps(asdict(self), indent=2))

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            timeout=timeout,
        )

    def alive(self) -> bool:
        try:
            with self.client(timeout=3) as client:
                return client.get("/readyz").text == "ok"
        except (httpx.HTTPError, OSError):
            return False


def ensure_binaries() -> Path:
    bin_dir = CACHE / "bin"
    if all((bin_dir / name).exists() for name in BINARIES):
        return bin_dir
    subprocess.run(["bash", str(ROOT / "tests" / "cluster" / "build.sh")], check=True, stdout=sys.stderr)
    return bin_dir


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_pki(pki: Path) -> None:
    """A CA, the apiserver's serving certificate for 127.0.0.1, and the ServiceAccount signing key."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=tgw-test-ca",
             "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"))  # fmt: skip
    (pki / "san.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1\n"
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver",
             "-keyout", str(pki / "apiserver.key"), "-out", str(pki / "apiserver.csr"))  # fmt: skip
    _openssl("x509", "-req", "-in", str(pki / "apiserver.csr"), "-CA", str(pki / "ca.crt"),
             "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "30",
             "-extfile", str(pki / "san.cnf"), "-out", str(pki / "apiserver.crt"))  # fmt: skip
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def write_kubeconfig(path: Path, server: str, ca_file: Path, token: str, user: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tgw", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "tgw", "context": {"cluster": "tgw", "user": user}}],
        "current-context": "tgw",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def _spawn(name: str, argv: list[str], logs: Path, env: dict[str, str] | None = None) -> int:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps the descriptor
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
    )
    log.close()
    return proc.pid


def _wait(check, timeout: float, what: str, logs: Path | None = None, pid: int | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None and _exited(pid):
            break  # it died: waiting longer shows nothing new
        time.sleep(0.3)
    tail = ""
    if logs is not None and logs.exists():
        tail = "\n".join(logs.read_text(errors="replace").splitlines()[-30:])
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s\n{tail}")


def up(directory: Path = ROOT / ".cluster") -> ClusterState:
    """Start a fresh control plane (or return the running one) and write its kubeconfig."""
    existing = ClusterState.load(directory)
    if existing is not None and existing.alive():
        return existing
    if existing is not None:
        down(directory)
    bin_dir = ensure_binaries()
    shutil.rmtree(directory, ignore_errors=True)
    logs = directory / "logs"
    logs.mkdir(parents=True)
    (directory / "bin").symlink_to(bin_dir, target_is_directory=True)
    pki = directory / "pki"
    _make_pki(pki)
    token = os.urandom(24).hex()
    (pki / "tokens.csv").write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
    (pki / "tokens.csv").chmod(0o600)

    etcd_client, etcd_peer, api_port = free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    state = ClusterState(directory=str(directory), server=server, token=token)
    state.save()  # so that `down` can clean up whatever started, even if a later step fails
    state.pids["etcd"] = _spawn(
        "etcd",
        [
            str(bin_dir / "etcd"),
            "--name", "tgw", "--data-dir", str(directory / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"tgw=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync",  # a throw-away test store: durability buys nothing, fsyncs cost seconds
            "--log-level", "warn",
        ],
        logs,
    )  # fmt: skip
    state.save()
    state.pids["kube-apiserver"] = _spawn(
        "kube-apiserver",
        [
            str(bin_dir / "kube-apiserver"),
            "--etcd-servers", f"http://127.0.0.1:{etcd_client}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(api_port),
            # The default reconciler refuses a loopback advertise address.
            "--endpoint-reconciler-type", "none",
            "--tls-cert-file", str(pki / "apiserver.crt"), "--tls-private-key-file", str(pki / "apiserver.key"),
            "--client-ca-file", str(pki / "ca.crt"),
            "--token-auth-file", str(pki / "tokens.csv"),
            "--service-account-key-file", str(pki / "sa.pub"),
            "--service-account-signing-key-file", str(pki / "sa.key"),
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--api-audiences", "https://kubernetes.default.svc",
            "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", "OwnerReferencesPermissionEnforcement",
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--allow-privileged",
            "--cert-dir", str(pki / "generated"),
            "--v", "1",
        ],
        logs,
    )  # fmt: skip
    state.save()
    _wait(state.alive, 90, "kube-apiserver", logs / "kube-apiserver.log", state.pids["kube-apiserver"])
    kubeconfig = write_kubeconfig(state.kubeconfig, server, pki / "ca.crt", token, ADMIN_USER)
    state.pids["kube-controller-manager"] = _spawn(
        "kube-controller-manager",
        [
            str(bin_dir / "kube-controller-manager"),
            "--kubeconfig", str(kubeconfig),
            "--authentication-kubeconfig", str(kubeconfig), "--authorization-kubeconfig", str(kubeconfig),
            "--bind-address", "127.0.0.1", "--secure-port", str(free_port()),
            "--leader-elect=false",
            "--service-account-private-key-file", str(pki / "sa.key"),
            "--root-ca-file", str(pki / "ca.crt"),
            "--cluster-signing-cert-file", str(pki / "ca.crt"), "--cluster-signing-key-file", str(pki / "ca.key"),
            # No real node sends heartbeats: the node lifecycle controller would evict every pod.
            # No pod network: nothing to allocate node CIDRs from.
            "--controllers", "*,-node-ipam-controller,-node-lifecycle-controller",
            "--concurrent-gc-syncs", "10",
            "--v", "1",
        ],
        logs,
    )  # fmt: skip
    state.save()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    state.pids["fake-kubelet"] = _spawn(
        "fake-kubelet",
        [sys.executable, "-m", "tests.cluster.fake_kubelet", "--state", str(directory / "state.json")],
        logs,
        env=env,
    )
    state.save()
    _wait(lambda: _namespace_ready(state), 60, "the default ServiceAccount (kube-controller-manager)",
          logs / "kube-controller-manager.log", state.pids["kube-controller-manager"])  # fmt: skip
    _wait(
        lambda: _node_ready(state), 30, "the fake node", logs / "fake-kubelet.log", state.pids["fake-kubelet"]
    )
    return state


def _exited(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _namespace_ready(state: ClusterState) -> bool:
    with state.client() as client:
        return client.get("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200


def _node_ready(state: ClusterState) -> bool:
    with state.client() as client:
        return client.get("/api/v1/nodes").json().get("items") not in (None, [])


def down(directory: Path = ROOT / ".cluster") -> None:
    """Stop what ``up`` started, newest first, and remove the cluster's directory."""
    state = ClusterState.load(directory)
    if state is not None:
        for name, pid in reversed(list(state.pids.items())):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            if not _wait_exit(pid, 15):
                print(f"{name} ({pid}) ignored SIGTERM; killing it", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                _wait_exit(pid, 5)
    shutil.rmtree(directory, ignore_errors=True)


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when this process started it (a pytest session)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.harness")
    parser.add_argument("command", choices=["up", "down", "status", "build"])
    parser.add_argument("--dir", type=Path, default=ROOT / ".cluster")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(ensure_binaries())
    elif args.command == "up":
        started = time.monotonic()
        state = up(args.dir)
        print(
            f"cluster up in {time.monotonic() - started:.0f}s: {state.server}; KUBECONFIG={state.kubeconfig}"
        )
    elif args.command == "down":
        down(args.dir)
    else:
        state = ClusterState.load(args.dir)
        running = state is not None and state.alive()
        print(f"cluster {'running at ' + state.server if running and state else 'not running'}")
        return 0 if running else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
