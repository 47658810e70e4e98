"""Contract: the gateway starts from exactly the env and config file the operator gives its pods.

The gateway Deployment's env and the rendered ConfigMap come from the operator's builders for an
external-storage spec; Secret references are resolved the way the kubelet would (the generated
ones from the operator's own generated Secrets, the user's ones pointing at the test's real
redis-server and S3 server); then ``torrent-gateway gateway`` runs as a subprocess and must answer
``/api/health``. Only what a pod gets differently is overridden: the bind address and port
(127.0.0.1:<free port> instead of 0.0.0.0:9876) and the cache directory (an emptyDir in the pod).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from torrent_gateway_operator.builders import plan
from torrent_gateway_operator.config_render import CONFIG_KEY, CONFIG_PATH
from torrent_gateway_operator.spec import parse_spec

from tests.support.minio import MinioServer
from tests.support.servers import RedisServer, free_port

META = {"name": "contract", "namespace": "media", "uid": "6a0c3f3e-9f8e-4a57-8d0f-1f1e2d3c4b5a"}


def _spec(s3: MinioServer) -> dict[str, Any]:
    return {
        "storage": {
            "minio": {
                "external": {
                    "endpoint": s3.endpoint,
                    "bucket": "contract-bucket",
                    "secure": False,
                    "credentialsSecret": {"name": "s3-credentials"},
                }
            }
        },
        "redis": {"external": {"urlSecret": {"name": "redis-url"}}},
        "nostr": {"publish": False, "relays": []},  # no traffic beyond loopback
    }


def _resolve(
    entry: dict[str, Any],
    user_secrets: dict[str, dict[str, str]],
    generated: dict[str, dict[str, str]],
    config_file: Path,
) -> str:
    if entry["name"] == "TGW_CONFIG":
        assert entry["value"] == CONFIG_PATH
        return str(config_file)  # the ConfigMap, mounted here instead of /etc/torrent-gateway
    ref = entry["valueFrom"]["secretKeyRef"]
    source = user_secrets.get(ref["name"]) or generated[ref["name"]]
    return source[ref["key"]]


def test_gateway_starts_with_the_operators_env(
    redis_server: RedisServer, s3_server: MinioServer, tmp_path: Path
) -> None:
    the_plan = plan(parse_spec(_spec(s3_server)), META)
    (deployment,) = [
        m
        for m in the_plan.workloads
        if m["kind"] == "Deployment" and m["metadata"]["name"] == "contract-gateway"
    ]
    (configmap,) = [m for m in the_plan.workloads if m["kind"] == "ConfigMap"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["gateway"]

    config_file = tmp_path / "config.yaml"
    config_file.write_text(configmap["data"][CONFIG_KEY])
    user_secrets = {
        "s3-credentials": {"access-key": s3_server.access_key, "secret-key": s3_server.secret_key},
        "redis-url": {"url": redis_server.url},
    }
    generated = {s["metadata"]["name"]: s["stringData"] for s in the_plan.secrets}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGW_")}
    env.update({e["name"]: _resolve(e, user_secrets, generated, config_file) for e in container["env"]})
    env.update(
        {
            "TGW_GATEWAY__HOST": "127.0.0.1",
            "TGW_GATEWAY__PORT": str(port),
            "TGW_STORAGE__S3__CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    # The console script of the interpreter running the tests (a `torrent-gateway` found on PATH
    # may belong to another installation); its module form when the script is not installed.
    executable = Path(sys.executable).parent / "torrent-gateway"
    argv = (
        [str(executable), *container["args"]]
        if executable.is_file()
        else [sys.executable, "-m", "torrent_gateway.cli", *container["args"]]
    )
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 45
        status, body = None, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2.0)
                status, body = response.status_code, response.json()
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        output = (tmp_path / "gateway.log").read_text(errors="replace")
        assert status == 200, f"exit={process.poll()} last={status} {body}\n{output[-3000:]}"
        assert body["components"]["storage"]["ok"] and body["components"]["state"]["ok"]
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5.0)
        assert ready.status_code == 200
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
