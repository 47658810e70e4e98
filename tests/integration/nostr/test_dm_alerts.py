"""Health alerts reach the admins as NIP-17 private messages through a real relay (nostr-relay),
and only the admins can read them (unwrapped with nostr-sdk, as a DM client would)."""

from __future__ import annotations

import json
from pathlib import Path

import nostr_sdk
import pytest
from torrent_gateway.health.endpoint import alert_sinks
from torrent_gateway.health.monitor import HealthMonitor
from torrent_gateway.nostr import install_nostr
from torrent_gateway.nostr.dm import DmNotDelivered, dm_sender
from torrent_gateway.nostr.keys import load_server_keys
from torrent_gateway.nostr.relays import RelayPublisher
from torrent_gateway.services import build_services

from tests.integration.nostr.helpers import NostrRelay, fetch_events, running_relay, sdk_sign
from tests.support.gateway import gateway_settings
from tests.support.servers import free_port


def unwrap(event: dict[str, object], reader: nostr_sdk.Keys) -> nostr_sdk.UnwrappedGift:
    gift = nostr_sdk.Event.from_json(json.dumps(event))
    return nostr_sdk.UnwrappedGift.from_gift_wrap(reader, gift)


async def messages_for(relay: NostrRelay, admin: nostr_sdk.Keys) -> list[str]:
    wraps = await fetch_events(relay.url, {"kinds": [1059], "#p": [admin.public_key().to_hex()]})
    return sorted(unwrap(event, admin).rumor().content() for event in wraps)


async def test_alerts_reach_each_admin_as_a_gift_wrapped_dm(tmp_path: Path, relay: NostrRelay) -> None:
    admins = [nostr_sdk.Keys.generate() for _ in range(2)]
    settings = gateway_settings(
        tmp_path / "data",
        auth={"admin_pubkeys": [admin.public_key().to_hex() for admin in admins]},
        nostr={"relays": [relay.url], "publish": False},
        monitoring={"alert_nostr_dm": True, "alert_threshold": 50},
    )
    services = build_services(settings)
    install_nostr(services, backoff=[])
    server = services.server_identity.keys.public_key().to_hex()
    healthy = True

    async def storage_probe() -> None:
        if not healthy:
            raise ConnectionError("bucket unreachable")

    monitor = HealthMonitor(
        lambda: {"storage": storage_probe}, 50, alert_sinks(services), trip_after=1, clear_after=1
    )
    await monitor.tick()
    healthy = False
    assert [alert.status for alert in await monitor.tick()] == ["firing"]
    healthy = True
    assert [alert.status for alert in await monitor.tick()] == ["resolved"]
    assert monitor.sink_failures == 0

    for admin in admins:
        wraps = await fetch_events(relay.url, {"kinds": [1059], "#p": [admin.public_key().to_hex()]})
        assert len(wraps) == 2
        for wrap in wraps:
            assert wrap["pubkey"] != server  # wrapped by a one-off key: the relay never sees the sender
            opened = unwrap(wrap, admin)
            assert opened.sender().to_hex() == server
            assert opened.rumor().kind().as_u16() == 14
        texts = await messages_for(relay, admin)
        assert texts[0].startswith("[torrent-gateway] firing: storage health 0 is below 50")
        assert "ConnectionError" in texts[0]
        assert texts[1].startswith("[torrent-gateway] resolved: storage health recovered to 100")
    stranger = nostr_sdk.Keys.generate()
    some_wrap = (await fetch_events(relay.url, {"kinds": [1059], "#p": [admins[0].public_key().to_hex()]}))[0]
    with pytest.raises(nostr_sdk.NostrSdkError, match="invalid HMAC"):
        unwrap(some_wrap, stranger)
    await services.close()


async def test_no_relay_accepting_is_an_error_the_monitor_counts(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "data")
    dead = f"ws://127.0.0.1:{free_port()}"
    send = dm_sender(load_server_keys(settings), RelayPublisher([dead], timeout=1, backoff=[]))
    with pytest.raises(DmNotDelivered, match="connection failed"):
        await send(nostr_sdk.Keys.generate().public_key().to_hex(), "hello")


def test_dm_alerts_need_the_switch_and_a_relay(tmp_path: Path) -> None:
    for monitoring, relays in (
        ({"alert_nostr_dm": False}, ["ws://127.0.0.1:1"]),
        ({"alert_nostr_dm": True}, []),
    ):
        settings = gateway_settings(tmp_path / "data", monitoring=monitoring, nostr={"relays": relays})
        services = build_services(settings)
        install_nostr(services)
        assert services.alert_dm is None


async def test_dms_also_go_to_the_recipients_inbox_relays(tmp_path: Path, relay: NostrRelay) -> None:
    """NIP-17: an admin's kind 10050 list names where they read DMs; the message goes there too."""
    admin = nostr_sdk.Keys.generate()
    settings = gateway_settings(
        tmp_path / "data",
        auth={"admin_pubkeys": [admin.public_key().to_hex()]},
        nostr={"relays": [relay.url], "publish": False},
        monitoring={"alert_nostr_dm": True},
    )
    services = build_services(settings)
    install_nostr(services, backoff=[])
    with running_relay(tmp_path / "inbox-relay") as inbox:
        inbox_list = sdk_sign(admin, 10050, [["relay", inbox.url], ["relay", "https://not-a-relay.example"]])
        published = await RelayPublisher([relay.url], timeout=5, backoff=[]).publish([inbox_list])
        assert published[inbox_list["id"]][relay.url].accepted
        await services.alert_dm(admin.public_key().to_hex(), "to your inbox")
        assert await messages_for(inbox, admin) == ["to your inbox"]
        assert "to your inbox" in await messages_for(relay, admin)
    await services.close()
