"""The standalone Blossom component (``torrent-gateway blossom``) with its state in a real Redis."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
from torrent_gateway.blossom import create_blossom_app

from tests.support.gateway import gateway_settings
from tests.support.servers import RedisServer, UvicornThread
from tests.unit.blossom.tokens import Signer

from .conftest import now


def test_standalone_component_on_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = gateway_settings(
        tmp_path / "data",
        state={"backend": "redis", "redis_url": f"redis://127.0.0.1:{redis_server.port}/9"},
        blossom={"port": 0},
    )
    signer = Signer()
    with UvicornThread(create_blossom_app(settings)) as server:
        base = server.url
        assert httpx.get(f"{base}/healthz").text == "ok"
        assert httpx.get(f"{base}/readyz").status_code == 200
        blobs = [os.urandom(2000 + i) for i in range(4)]
        for data in blobs:
            sha = hashlib.sha256(data).hexdigest()
            # Scoped to this server by its host name, as blossom-client-sdk does.
            token = signer.token("upload", sha, now=now(), servers=("127.0.0.1",), url_safe=True)
            response = httpx.put(f"{base}/upload", content=data, headers={"Authorization": token})
            assert response.status_code == 201, response.headers.get("x-reason")
            assert response.json()["url"] == f"{base}/{sha}.bin"
            assert httpx.get(response.json()["url"]).content == data
        walked: list[str] = []
        cursor = None
        for _ in range(10):
            params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
            page = httpx.get(f"{base}/list/{signer.pubkey}", params=params).json()
            walked += [d["sha256"] for d in page]
            if len(page) < 3:
                break
            cursor = page[-1]["sha256"]
        assert walked == [d["sha256"] for d in httpx.get(f"{base}/list/{signer.pubkey}").json()]
        assert sorted(walked) == sorted(hashlib.sha256(d).hexdigest() for d in blobs)

        assert "/list/{pubkey}" in httpx.get(f"{base}/openapi.json").json()["paths"]
        metrics = httpx.get(f"{base}/metrics").text
        assert 'tgw_blossom_requests_total{endpoint="blossom_upload",status="201"}' in metrics
        missing = httpx.get(f"{base}/nothing/here")
        assert missing.status_code == 404 and missing.headers["x-reason"]
        assert missing.headers["access-control-allow-origin"] == "*"
        anywhere = httpx.options(f"{base}/whatever/path")
        assert anywhere.status_code == 204
        assert anywhere.headers["access-control-allow-methods"] == "GET, HEAD, PUT, DELETE"
        malformed = httpx.delete(f"{base}/%0A")
        assert malformed.status_code == 400 and malformed.headers["x-reason"]
    # The lifespan closed the services it built; the files are on disk for the next start.
    assert any((tmp_path / "data" / "blobs").iterdir())
