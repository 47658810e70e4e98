"""Abuse from outside: finding 9 (spoofed client addresses behind a trusted proxy), finding 10
(Blossom report floods), finding 12's NIP-46 SSRF and DNS rebinding, metrics and diagnostics
for the public, the alert webhook in the logs, and issue 21's health of a fresh private install —
driven against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nostr_sdk
import pytest

from tests.integration.nostr.helpers import sdk_sign
from tests.security.authkit import bearer, serve
from tests.support.gateway import gateway_settings
from tests.support.servers import UvicornThread, free_port

ADMIN = nostr_sdk.Keys.generate()


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that accepts and counts connections (a relay nobody should call)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def __enter__(self) -> ConnectionCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


# -- finding 9: the client address comes from the header the proxy sets, only ------------------------
@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded"])
def test_a_client_sent_forwarding_header_does_not_escape_the_login_limit(tmp_path: Path, header: str) -> None:
    limits = {"enabled": True, "auth": {"login_attempts_per_minute": 3}}
    with serve(
        tmp_path / "data",
        rate_limiting=limits,
        gateway={"trusted_proxies": ["127.0.0.1/32"], "forwarded_header": header},
    ) as gateway:
        statuses = []
        for attempt in range(6):
            # The proxy names the real client in its header; the attacker adds the other one,
            # with a new address each time, hoping it wins.
            proxy = {"x-forwarded-for": "198.51.100.7", "forwarded": "for=198.51.100.7"}
            spoof = {"x-forwarded-for": f"203.0.113.{attempt}", "forwarded": f"for=203.0.113.{attempt}"}
            other = "forwarded" if header == "x-forwarded-for" else "x-forwarded-for"
            headers = {header: proxy[header], other: spoof[other]}
            statuses.append(httpx.post(f"{gateway.url}/api/auth/login", json={}, headers=headers).status_code)
        assert statuses[:3] == [422, 422, 422] and statuses[3:] == [429, 429, 429]
        # A different real client (as the proxy says) has its own budget.
        fresh = httpx.post(
            f"{gateway.url}/api/auth/login", json={}, headers={header: proxy[header].replace("7", "8")}
        )
        assert fresh.status_code == 422


# -- finding 10: Blossom reports --------------------------------------------------------------------
def report(keys: nostr_sdk.Keys, sha: str, content: str = "bad blob") -> bytes:
    return json.dumps(sdk_sign(keys, 1984, [["x", sha, "spam"]], content=content)).encode()


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str]]]:
    limits = {"enabled": True, "report": {"reports_per_minute": 3}}
    with serve(
        tmp_path_factory.mktemp("reports") / "data",
        admin=ADMIN,
        rate_limiting=limits,
        gateway={"trusted_proxies": ["127.0.0.1/32"]},
    ) as gateway:
        shas = []
        for _ in range(4):
            data = os.urandom(2048)
            assert httpx.put(f"{gateway.url}/api/upload", content=data).status_code in (200, 201)
            shas.append(hashlib.sha256(data).hexdigest())
        yield gateway, shas


def put_report(base: str, body: bytes, client: str) -> httpx.Response:
    return httpx.put(f"{base}/report", content=body, headers={"X-Forwarded-For": client})


def test_reports_are_rate_limited_per_address(reported: tuple[Any, list[str]]) -> None:
    gateway, shas = reported
    statuses = [
        put_report(gateway.url, report(nostr_sdk.Keys.generate(), shas[0]), "198.51.100.10").status_code
        for _ in range(5)
    ]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    refused = put_report(gateway.url, report(nostr_sdk.Keys.generate(), shas[0]), "198.51.100.10")
    assert refused.status_code == 429 and refused.headers["x-reason"].startswith("rate limit")


def test_reports_are_rate_limited_per_pubkey_whatever_the_address(reported: tuple[Any, list[str]]) -> None:
    gateway, shas = reported
    reporter = nostr_sdk.Keys.generate()
    statuses = [
        put_report(
            gateway.url, report(reporter, shas[i % 4], f"report {i}"), f"198.51.100.{100 + i}"
        ).status_code
        for i in range(8)
    ]
    # Every report comes from a new address, so only the per-pubkey count can refuse: the fourth
    # report of the minute from one pubkey is refused (rate_limiting.report.reports_per_minute 3).
    assert statuses[:3] == [200] * 3 and statuses[3:] == [429] * 5


def test_one_report_per_reporter_and_blob(reported: tuple[Any, list[str]]) -> None:
    gateway, shas = reported
    reporter = nostr_sdk.Keys.generate()
    first = put_report(gateway.url, report(reporter, shas[1], "first"), "198.51.100.50")
    again = put_report(gateway.url, report(reporter, shas[1], "the same blob, a new event"), "198.51.100.51")
    assert first.json()["stored"] == 1 and again.json() == {"message": "report already received", "stored": 0}


def test_oversized_report_is_refused(reported: tuple[Any, list[str]]) -> None:
    gateway, shas = reported
    body = report(nostr_sdk.Keys.generate(), shas[2], "x" * 20_000)
    response = put_report(gateway.url, body, "198.51.100.60")
    assert response.status_code == 413 and "x-reason" in response.headers
    admin = bearer(gateway.url, ADMIN)
    kept = httpx.get(f"{gateway.url}/api/admin/reports?limit=500", headers=admin).json()["reports"]
    assert all(len(r["report"]["event"]["content"]) < 20_000 for r in kept)


# -- finding 12: NIP-46 relays get the SSRF guard, DNS rebinding included ------------------------------
def test_bunker_url_on_a_private_address_is_refused(tmp_path: Path) -> None:
    signer = nostr_sdk.Keys.generate().public_key().to_hex()
    with serve(tmp_path / "data") as gateway, ConnectionCounter() as internal:
        for host in (
            f"127.0.0.1:{internal.port}",
            f"localhost:{internal.port}",
            f"[::ffff:127.0.0.1]:{internal.port}",
        ):
            bunker = f"bunker://{signer}?relay=ws://{host}&secret=x"
            response = httpx.post(
                f"{gateway.url}/api/auth/login", json={"auth_type": "nip46", "bunker_url": bunker}
            )
            assert response.status_code == 401, response.text
            assert "non-public address" in response.json()["detail"]
        assert internal.accepted == 0


async def test_bunker_relay_name_that_rebinds_to_loopback_is_not_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name answers a public address to the check, then loopback to the connect."""
    from torrent_gateway.nostr.nip46 import Nip46Client, Nip46Error, parse_bunker_url

    with ConnectionCounter() as internal:
        answers = iter(["192.0.2.10", "127.0.0.1", "127.0.0.1", "127.0.0.1"])
        # 192.0.2.10 is TEST-NET-1: unroutable, but treat it as public for the check below.
        loop = asyncio.get_running_loop()

        async def rebinding(host: str, port: int, **kwargs: Any) -> list[Any]:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

        monkeypatch.setattr(loop, "getaddrinfo", rebinding)
        monkeypatch.setattr(
            "torrent_gateway.netguard.is_public_address", lambda address: str(address) == "192.0.2.10"
        )
        signer = nostr_sdk.Keys.generate().public_key().to_hex()
        uri = parse_bunker_url(f"bunker://{signer}?relay=ws://rebind.example:{internal.port}&secret=x")
        with pytest.raises(Nip46Error):
            async with Nip46Client(uri, timeout=2.0):
                pass
        assert internal.accepted == 0


# -- finding 12: metrics and diagnostics are not for the public ---------------------------------------
def test_metrics_and_diagnostics_are_for_the_scrape_network_or_admins(tmp_path: Path) -> None:
    with serve(tmp_path / "data", admin=ADMIN) as gateway:
        proxied = {"X-Forwarded-For": "203.0.113.9"}  # came in through an Ingress: outside
        for path in ("/metrics", "/api/diagnostics"):
            assert httpx.get(f"{gateway.url}{path}").status_code == 200  # in-cluster Prometheus
            outside = httpx.get(f"{gateway.url}{path}", headers=proxied)
            assert outside.status_code == 401, path
            user = bearer(gateway.url, nostr_sdk.Keys.generate())
            assert httpx.get(f"{gateway.url}{path}", headers={**proxied, **user}).status_code == 403
            admin = bearer(gateway.url, ADMIN)
            assert httpx.get(f"{gateway.url}{path}", headers={**proxied, **admin}).status_code == 200
    with serve(tmp_path / "strict", admin=ADMIN, monitoring={"metrics_networks": []}) as gateway:
        assert httpx.get(f"{gateway.url}/metrics").status_code == 401
        admin = bearer(gateway.url, ADMIN)
        metrics = httpx.get(f"{gateway.url}/metrics", headers=admin)
        assert metrics.status_code == 200 and "tgw_" in metrics.text


def test_standalone_tracker_metrics_are_not_public(tmp_path: Path) -> None:
    from torrent_gateway.tracker import build_tracker_app

    settings = gateway_settings(
        tmp_path / "data", monitoring={"metrics_networks": []}, tracker={"udp": False}
    )
    with UvicornThread(build_tracker_app(settings)) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 403
        assert httpx.get(f"{server.url}/healthz").status_code == 200


# -- finding 12: the alert webhook is a secret ------------------------------------------------------
class FailingWebhook(http.server.BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(500)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_alert_webhook_url_never_reaches_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingWebhook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    secret = "s3cr3t-hook-token"
    webhook = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/{secret}"
    caplog.set_level(logging.INFO)
    try:
        with serve(
            tmp_path / "data",
            # A relay that is down makes the monitor alert; publishing is what makes it used.
            nostr={"relays": [f"ws://127.0.0.1:{free_port()}"], "publish": True},
            monitoring={"probe_interval": 0.1, "alert_webhook": webhook, "alert_threshold": 50},
        ) as gateway:
            assert gateway.settings.monitoring.alert_webhook.get_secret_value() == webhook
            assert secret not in repr(gateway.settings) and secret not in str(gateway.settings.monitoring)
            deadline = time.monotonic() + 20
            while "alert webhook answered HTTP 500" not in caplog.text:
                assert time.monotonic() < deadline, caplog.text[-2000:]
                time.sleep(0.1)
            assert FailingWebhook.calls >= 1
        assert secret not in caplog.text
    finally:
        receiver.shutdown()


# -- issue 21: health of a fresh install ---------------------------------------------------------------
def test_private_mode_contacts_no_relay_and_reports_ok(tmp_path: Path) -> None:
    with ConnectionCounter() as relay:
        nostr = {"relays": [f"ws://127.0.0.1:{relay.port}"], "publish": False}
        with serve(tmp_path / "data", nostr=nostr) as gateway:
            health = httpx.get(f"{gateway.url}/api/health").json()
            assert health["status"] == "ok" and health["score"] >= 50
            assert health["components"]["relays"]["enabled"] is False
            time.sleep(0.5)
        assert relay.accepted == 0


def test_unreachable_optional_relays_do_not_zero_the_score(tmp_path: Path) -> None:
    nostr = {"relays": [f"ws://127.0.0.1:{free_port()}"], "publish": True}
    with serve(tmp_path / "data", nostr=nostr) as gateway:
        health = httpx.get(f"{gateway.url}/api/health").json()
        assert health["components"]["relays"]["score"] == 0
        # Publishing is failing, so the status says degraded; the score is not zeroed by it.
        assert health["status"] == "degraded" and 50 <= health["score"] < 100, health
