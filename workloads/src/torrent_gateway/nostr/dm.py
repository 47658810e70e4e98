"""Private messages from the server's key: NIP-17 direct messages in NIP-59 gift wraps.

The alert sink of the health monitor uses this to tell admins when a component's score crosses
the threshold. nostr-sdk builds the message (kind 14 rumor, sealed as kind 13 by the server key
and NIP-44-encrypted, wrapped as kind 1059 by a one-off key with a randomised timestamp), so a
relay learns only the recipient. It goes where the recipient reads DMs: the relays of their
kind 10050 list (NIP-17), looked up on the configured relays and kept for an hour, as well as
the configured relays themselves; the relay publisher delivers it with its usual retries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import nostr_sdk

from .events import tag_values
from .keys import ServerKeys
from .relays import RelayPublisher, fetch_newest

DmSender = Callable[[str, str], Awaitable[None]]
DM_RELAY_LIST = 10050  # NIP-17: the relays a user reads private messages from
INBOX_TTL = 3600.0


class DmNotDelivered(Exception):
    """No relay accepted the message."""


def build_private_message(keys: ServerKeys, recipient_hex: str, text: str) -> dict[str, object]:
    """The gift-wrapped (kind 1059) private message, as an event dict ready to publish."""
    # nostr-sdk's Keys are a NostrSigner: the seal is signed and encrypted by the server key.
    wrapped = nostr_sdk.nip17_make_private_msg(keys.keys, nostr_sdk.PublicKey.parse(recipient_hex), text)
    return json.loads(wrapped.as_json())  # type: ignore[no-any-return]


def dm_sender(
    keys: ServerKeys, publisher: RelayPublisher, *, clock: Callable[[], float] = time.time
) -> DmSender:
    """An async ``(recipient pubkey hex, text)`` that publishes one private message per call."""
    inboxes: dict[str, tuple[float, list[str]]] = {}

    async def inbox_relays(recipient_hex: str) -> list[str]:
        cached = inboxes.get(recipient_hex)
        if cached is not None and cached[0] > clock():
            return cached[1]
        listed = await fetch_newest(publisher.relays, recipient_hex, DM_RELAY_LIST, within=publisher.timeout)
        relays = (
            [url for url in tag_values(listed, "relay") if url.startswith(("wss://", "ws://"))]
            if listed
            else []
        )
        inboxes[recipient_hex] = (clock() + INBOX_TTL, relays)
        return relays

    async def send(recipient_hex: str, text: str) -> None:
        event = build_private_message(keys, recipient_hex, text)
        relays = list(dict.fromkeys([*await inbox_relays(recipient_hex), *publisher.relays]))
        to_all = RelayPublisher(
            relays, timeout=publisher.timeout, backoff=publisher.backoff, auth_signer=publisher.auth_signer
        )
        outcomes = (await to_all.publish([event]))[str(event["id"])]
        if not any(outcome.accepted for outcome in outcomes.values()):
            summary = "; ".join(f"{relay}: {o.summary}" for relay, o in outcomes.items()) or "no relays"
            raise DmNotDelivered(summary)

    return send
