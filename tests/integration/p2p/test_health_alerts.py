"""Health drops and an alert fires when Redis or the S3 endpoint stops, and both recover when it returns.

A real gateway on an S3 store (MinIO) and a Redis state store (redis-server), each private to this
test so it can kill them; the health monitor probes every 0.2 s and posts its alerts to a webhook
served on loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from tests.support.gateway import RunningGateway, running_gateway
from tests.support.minio import MinioServer, run_minio_server
from tests.support.servers import RedisServer, UvicornThread, run_redis_server

from .support import wait_until


class WebhookReceiver:
    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> dict[str, bool]:
            body = await request.json()
            with self.lock:
                self.alerts.append(body)
            return {"ok": True}

    def find(self, component: str, status: str) -> list[dict[str, Any]]:
        with self.lock:
            return [a for a in self.alerts if a["component"] == component and a["status"] == status]


@pytest.fixture
def webhook() -> Iterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver()
    with UvicornThread(receiver.app) as server:
        yield receiver, f"{server.url}/hook"


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with run_redis_server() as server:
        yield server


@pytest.fixture
def s3() -> Iterator[MinioServer]:
    with run_minio_server() as server:
        yield server


@pytest.fixture
def gateway(
    tmp_path: Path, redis: RedisServer, s3: MinioServer, webhook: tuple[WebhookReceiver, str]
) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path,
        alerts=True,
        storage={
            "backend": "s3",
            "s3": {
                "endpoint": s3.endpoint,
                "bucket": "tgw-health",
                "access_key": s3.access_key,
                "secret_key": s3.secret_key,
                "cache_dir": str(tmp_path / "s3-cache"),
            },
        },
        state={"backend": "redis", "redis_url": redis.url},
        monitoring={"probe_interval": 0.2, "alert_threshold": 50, "alert_webhook": webhook[1]},
    ) as running:
        yield running


def _health(gateway: RunningGateway) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{gateway.url}/api/health", timeout=10)
    return response.status_code, response.json()


def _outage_and_recovery(
    gateway: RunningGateway, receiver: WebhookReceiver, component: str, server: Any
) -> None:
    wait_until(lambda: _health(gateway)[1]["status"] == "ok", 20, 0.2, what="a healthy start")
    server.stop()
    alert = wait_until(lambda: receiver.find(component, "firing"), 20, 0.1, what=f"a {component} alert")[0]
    assert alert["score"] < alert["threshold"] == 50
    assert alert["source"] == "torrent-gateway" and component in alert["message"]
    code, body = _health(gateway)
    assert code == 503 and body["status"] == "down"
    assert body["components"][component]["score"] == 0 and not body["components"][component]["ok"]
    assert component in body["alerts"]["firing"]
    # One outage, one alert: further rounds below the threshold do not repeat it.
    assert len(receiver.find(component, "firing")) == 1

    server.start()
    wait_until(
        lambda: receiver.find(component, "resolved"), 30, 0.1, what=f"the {component} alert to resolve"
    )
    code, body = _health(gateway)
    assert code == 200 and body["components"][component]["ok"]
    assert component not in body["alerts"]["firing"]
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert f'tgw_health_alerts_total{{component="{component}",status="firing"}}' in metrics


def test_redis_outage_alerts_and_recovers(
    gateway: RunningGateway, redis: RedisServer, webhook: tuple[WebhookReceiver, str]
) -> None:
    _outage_and_recovery(gateway, webhook[0], "state", redis)
    assert not webhook[0].find("storage", "firing")


def test_s3_outage_alerts_and_recovers(
    gateway: RunningGateway, s3: MinioServer, webhook: tuple[WebhookReceiver, str]
) -> None:
    _outage_and_recovery(gateway, webhook[0], "storage", s3)
    assert not webhook[0].find("state", "firing")
