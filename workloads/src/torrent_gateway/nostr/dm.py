"""Private messages from the server's key: NIP-17 direct messages in NIP-59 gift wraps.

The alert sink of the health monitor uses this to tell admins when a component's score crosses
the threshold. nostr-sdk builds the message (kind 14 rumor, sealed as kind 13 by the server key
and NIP-44-encrypted, wrapped as kind 1059 by a one-off key with a randomised timestamp), so a
relay learns only the recipient; the relay publisher delivers it with its usual retries.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import nostr_sdk

from .keys import ServerKeys
from .relays import RelayPublisher

DmSender = Callable[[str, str], Awaitable[None]]


class DmNotDelivered(Exception):
    """No relay accepted the message."""


def build_private_message(keys: ServerKeys, recipient_hex: str, text: str) -> dict[str, object]:
    """The gift-wrapped (kind 1059) private message, as an event dict ready to publish."""
    # nostr-sdk's Keys are a NostrSigner: the seal is signed and encrypted by the server key.
    wrapped = nostr_sdk.nip17_make_private_msg(keys.keys, nostr_sdk.PublicKey.parse(recipient_hex), text)
    return json.loads(wrapped.as_json())  # type: ignore[no-any-return]


def dm_sender(keys: ServerKeys, publisher: RelayPublisher) -> DmSender:
    """An async ``(recipient pubkey hex, text)`` that publishes one private message per call."""

    async def send(recipient_hex: str, text: str) -> None:
        event = build_private_message(keys, recipient_hex, text)
        outcomes = (await publisher.publish([event]))[str(event["id"])]
        if not any(outcome.accepted for outcome in outcomes.values()):
            summary = "; ".join(f"{relay}: {o.summary}" for relay, o in outcomes.items()) or "no relays"
            raise DmNotDelivered(summary)

    return send
