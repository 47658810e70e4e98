"""``GET /api/health`` of the standalone tracker (``torrent-gateway tracker``) on a real Redis:
the gateway's summary over the tracker's own dependencies, 503 naming the store that is down."""

from __future__ import annotations

from pathlib import Path

import httpx
from torrent_gateway.tracker import build_tracker_app

from tests.support.gateway import gateway_settings
from tests.support.servers import UvicornThread, run_redis_server


def test_health_reports_the_swarm_and_state_stores_and_a_redis_outage(tmp_path: Path) -> None:
    with run_redis_server() as redis:
        settings = gateway_settings(
            tmp_path / "data", state={"backend": "redis", "redis_url": redis.url}, tracker={"udp": False}
        )
        with UvicornThread(build_tracker_app(settings)) as server, httpx.Client(timeout=20) as client:
            healthy = client.get(f"{server.url}/api/health")
            assert healthy.status_code == 200, healthy.text
            body = healthy.json()
            assert body["status"] in ("ok", "degraded") and set(body) >= {"score", "threshold", "alerts"}
            components = body["components"]
            assert set(components) == {"tracker", "swarms", "state"}
            assert components["swarms"]["ok"] and components["swarms"]["required"]
            assert components["state"]["ok"] and components["state"]["required"]

            redis.stop()
            down = client.get(f"{server.url}/api/health")
            assert down.status_code == 503, down.text
            body = down.json()
            assert body["status"] == "down" and body["score"] == 0
            assert body["components"]["swarms"]["ok"] is False
            assert body["components"]["swarms"]["error"] == "SwarmUnavailable"
            assert body["components"]["state"]["ok"] is False
            assert body["components"]["tracker"]["ok"] is True  # the process itself still answers
            assert client.get(f"{server.url}/readyz").status_code == 503

            redis.start()
            back = client.get(f"{server.url}/api/health")
            assert back.status_code == 200, back.text
            assert back.json()["components"]["swarms"]["ok"] is True


def test_health_of_a_tracker_on_local_state_is_ok(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "data", tracker={"udp": False})
    with UvicornThread(build_tracker_app(settings)) as server:
        health = httpx.get(f"{server.url}/api/health", timeout=20)
        assert health.status_code == 200, health.text
        assert {name: c["ok"] for name, c in health.json()["components"].items()} == {
            "tracker": True,
            "swarms": True,
            "state": True,
        }


def test_the_uvicorn_factory_answers_the_same_health_routes(tmp_path: Path) -> None:
    """``uvicorn --factory torrent_gateway.tracker.component:create_standalone_app`` is the tracker in
    the same component shell: liveness, readiness and the summary over its event loop and its swarm
    store (it has no catalog, so no state store), beside announces."""
    from torrent_gateway.tracker.component import create_standalone_app

    settings = gateway_settings(tmp_path / "data", tracker={"udp": False, "policy": "open"})
    with UvicornThread(create_standalone_app(settings)) as server, httpx.Client(timeout=20) as client:
        assert client.get(f"{server.url}/healthz").text == "ok"
        assert client.get(f"{server.url}/readyz").text == "ready"
        health = client.get(f"{server.url}/api/health")
        assert health.status_code == 200, health.text
        assert {name: c["ok"] for name, c in health.json()["components"].items()} == {
            "tracker": True,
            "swarms": True,
        }
        announce = client.get(
            f"{server.url}/announce",
            params={"info_hash": b"\x01" * 20, "peer_id": b"-TG0001-" + b"x" * 12, "port": 6881, "left": 0},
        )
        assert announce.status_code == 200 and announce.content.startswith(b"d")
