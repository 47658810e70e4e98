"""Fixtures for the Nostr tests: one real relay per session, the gateway app in process with a
controllable state-store clock, and admin/user key pairs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nostr_sdk
import pytest
from torrent_gateway.accounts import accounts_extension, install_accounts
from torrent_gateway.gateway.app import create_app
from torrent_gateway.services import Services, build_services
from torrent_gateway.state.memory import MemoryStateStore

from tests.integration.nostr.helpers import NostrRelay, ensure_nostr_tools, running_relay
from tests.support.clock import FakeClock
from tests.support.gateway import gateway_settings

BASE = "http://gw.test"


@pytest.fixture(scope="session")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NostrRelay]:
    with running_relay(tmp_path_factory.mktemp("relay")) as running:
        yield running


@pytest.fixture(scope="session")
def nostr_tools() -> None:
    ensure_nostr_tools()


@dataclass
class Gateway:
    client: httpx.AsyncClient
    services: Services
    state_clock: FakeClock
    admin: nostr_sdk.Keys


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    """The real gateway app (lead's create_app + our extension) over ASGI, without sockets."""
    admin = nostr_sdk.Keys.generate()
    settings = gateway_settings(
        tmp_path / "data",
        gateway={"public_url": BASE},
        auth={"admin_pubkeys": [admin.public_key().to_hex()], "challenge_ttl": 30, "session_ttl": 600},
        storage={"blob_threshold": 200_000, "chunk_size": 65536},
    )
    clock = FakeClock()
    services = build_services(settings, state=MemoryStateStore(clock=clock))
    install_accounts(services, allow_private_relays=True, nip46_timeout=5.0)
    app = create_app(settings, services, extensions=[accounts_extension])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield Gateway(client=client, services=services, state_clock=clock, admin=admin)
    await services.close()
