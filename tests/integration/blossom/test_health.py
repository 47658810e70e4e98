"""``GET /api/health`` of the standalone Blossom component, built as ``torrent-gateway blossom``
builds it (behind the rate limiter), with its state in a real Redis: the gateway's summary over
Blossom's own dependencies (object store, state store, rate limiter), 503 naming the one down."""

from __future__ import annotations

from pathlib import Path

import httpx
from torrent_gateway.runtime import build_component_app

from tests.support.gateway import gateway_settings
from tests.support.servers import UvicornThread, run_redis_server


def test_health_reports_storage_and_state_and_a_redis_outage(tmp_path: Path) -> None:
    with run_redis_server() as redis:
        settings = gateway_settings(
            tmp_path / "data",
            state={"backend": "redis", "redis_url": redis.url},
            blossom={"port": 0},
            rate_limiting={"enabled": True},  # as deployed: the limiter shares the Redis
        )
        app, _, _ = build_component_app("blossom", settings)
        with UvicornThread(app) as server, httpx.Client(timeout=20) as client:
            healthy = client.get(f"{server.url}/api/health")
            assert healthy.status_code == 200, healthy.text
            body = healthy.json()
            assert body["status"] in ("ok", "degraded") and set(body) >= {"score", "threshold", "alerts"}
            components = body["components"]
            assert set(components) == {"blossom", "storage", "state", "ratelimit"}
            assert components["storage"]["ok"] and components["storage"]["required"]
            assert components["state"]["ok"] and components["state"]["required"]
            # A JSON answer, not Blossom's blob lookup: the path is not a 64-hex hash.
            assert healthy.headers["content-type"] == "application/json"

            redis.stop()
            down = client.get(f"{server.url}/api/health")
            assert down.status_code == 503, down.text
            body = down.json()
            assert body["status"] == "down" and body["score"] == 0
            assert body["components"]["state"]["ok"] is False and body["components"]["state"]["error"]
            assert body["components"]["storage"]["ok"] is True
            assert body["components"]["ratelimit"]["ok"] is False  # the same Redis, not required
            assert body["components"]["blossom"]["ok"] is True

            redis.start()
            back = client.get(f"{server.url}/api/health")
            assert back.status_code == 200, back.text
            assert back.json()["components"]["state"]["ok"] is True
