"""NIP-46 remote signing, client side: the server talks to a user's signer ("bunker") so the
user can log in without giving anyone their key.

``bunker://<signer pubkey>?relay=wss://…&secret=…`` names the signer and where it listens. We
make a throwaway key pair for the conversation, open the relay, subscribe to kind 24133 events
addressed to us, and send NIP-44-encrypted JSON-RPC requests: ``connect`` (with the secret),
then ``get_public_key`` (the user's key may differ from the signer's own), then
``sign_event``. The other way round (``nostrconnect://``, the client's URI that the user gives
to a signer app): we publish nothing first, but wait on our relays for the signer's answer to
an implied ``connect`` carrying our secret; it tells us the signer's key, and the conversation
goes on as with a bunker. Requests are sequential, so no background reader is needed: each
request reads the socket until its own answer arrives or its deadline passes. Every failure becomes a
:class:`Nip46Error` whose message can be shown to the user.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import nostr_sdk
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from ..netguard import NotPublic, Unresolvable, resolve_checked
from .events import HEX64, InvalidEvent, sign_event, tag_values, verify_event

log = logging.getLogger(__name__)

NIP46_KIND = 24133
MAX_BUNKER_URL = 2048
MAX_RELAY_MESSAGE = 256 * 1024


class Nip46Error(Exception):
    """The remote signer could not be used; the message says why, safe to show the user."""


@dataclass(frozen=True)
class BunkerURI:
    signer_pubkey: str  # empty while a nostrconnect:// signer has not answered yet
    relays: list[str] = field(default_factory=list)
    secret: str | None = None


def parse_bunker_url(url: str) -> BunkerURI:
    """Parse ``bunker://<hex pubkey>?relay=…[&relay=…][&secret=…]``; Nip46Error when malformed."""
    if not isinstance(url, str) or len(url) > MAX_BUNKER_URL:
        raise Nip46Error("bunker URL must be a string of at most 2048 characters")
    parts = urlsplit(url.strip())
    if parts.scheme != "bunker":
        raise Nip46Error("expected a bunker:// URL")
    pubkey = (parts.netloc or parts.path.lstrip("/")).lower()
    if not HEX64.match(pubkey):
        raise Nip46Error("bunker URL must name the signer's 64-character hex pubkey")
    query = parse_qs(parts.query)
    relays = [unquote(r) for r in query.get("relay", []) if r]
    if not relays:
        raise Nip46Error("bunker URL names no relay")
    for relay in relays:
        if urlsplit(relay).scheme not in ("ws", "wss") or not urlsplit(relay).hostname:
            raise Nip46Error(f"bunker relay {relay!r} is not a ws:// or wss:// URL")
    secrets_given = query.get("secret") or []
    secret = secrets_given[0] if secrets_given else None
    return BunkerURI(signer_pubkey=pubkey, relays=list(dict.fromkeys(relays))[:3], secret=secret)


async def _checked_address(relay: str, allow_private: bool) -> tuple[str, int]:
    """(address, port) to open the relay's connection to: resolved once and, unless private relays
    are allowed, public (no SSRF from a login form); the connection goes to this very address, so
    a second DNS answer (rebinding) cannot send it elsewhere."""
    parts = urlsplit(relay)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        return await resolve_checked(host, port, allow_private=allow_private), port
    except Unresolvable:
        raise Nip46Error(f"cannot resolve the bunker relay host {host!r}") from None
    except NotPublic:
        raise Nip46Error(f"bunker relay {relay} is on a non-public address; refused") from None


class Nip46Client:
    """A conversation with one remote signer, used as ``async with Nip46Client(uri) as c``."""

    def __init__(
        self,
        uri: BunkerURI,
        *,
        timeout: float = 30.0,
        app_keys: nostr_sdk.Keys | None = None,
        allow_private_relays: bool = False,
    ) -> None:
        self.uri = uri
        self.timeout = timeout
        self.app_keys = app_keys or nostr_sdk.Keys.generate()
        self.app_pubkey = self.app_keys.public_key().to_hex()
        self.allow_private_relays = allow_private_relays
        self._signer = nostr_sdk.PublicKey.parse(uri.signer_pubkey) if uri.signer_pubkey else None
        self._ws: ClientConnection | None = None
        self.relay: str | None = None
        self.user_pubkey: str | None = None

    async def __aenter__(self) -> Nip46Client:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect to the first bunker relay that answers and subscribe to replies for us."""
        errors = []
        for relay in self.uri.relays:
            try:
                address, port = await _checked_address(relay, self.allow_private_relays)
                # host/port: where to connect; the URL's host stays the Host header and TLS name.
                self._ws = await connect(
                    relay,
                    open_timeout=min(self.timeout, 10.0),
                    close_timeout=1,
                    max_size=MAX_RELAY_MESSAGE,
                    host=address,
                    port=port,
                    proxy=None,
                )
            except Nip46Error as exc:
                errors.append(str(exc))
                continue
            except (OSError, WebSocketException, TimeoutError) as exc:
                errors.append(f"{relay}: {type(exc).__name__}")
                continue
            self.relay = relay
            break
        if self._ws is None:
            raise Nip46Error("cannot reach the signer's relay (" + "; ".join(errors) + ")")
        subscription = {"kinds": [NIP46_KIND], "#p": [self.app_pubkey], "since": int(time.time()) - 10}
        await self._ws.send(json.dumps(["REQ", "nip46-" + secrets.token_hex(4), subscription]))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    # -- JSON-RPC -------------------------------------------------------------------------------
    def nostrconnect_uri(self, name: str, url: str | None = None, perms: str | None = None) -> str:
        """Our ``nostrconnect://`` URI for a signer app: our key, relays, secret, who we are."""
        query = [("relay", relay) for relay in self.uri.relays]
        query += [("secret", self.uri.secret or ""), ("name", name)]
        if url:
            query.append(("url", url))
        if perms:
            query.append(("perms", perms))
        return f"nostrconnect://{self.app_pubkey}?{urlencode(query, quote_via=quote)}"

    def _encrypt(self, plaintext: str) -> str:
        if self._signer is None:
            raise Nip46Error("no signer has connected yet")
        return str(
            nostr_sdk.nip44_encrypt(
                self.app_keys.secret_key(), self._signer, plaintext, nostr_sdk.Nip44Version.V2
            )
        )

    def _decrypt(self, payload: str, sender: nostr_sdk.PublicKey) -> str:
        if "?iv=" in payload:  # a signer still speaking NIP-04
            return str(nostr_sdk.nip04_decrypt(self.app_keys.secret_key(), sender, payload))
        return str(nostr_sdk.nip44_decrypt(self.app_keys.secret_key(), sender, payload))

    async def wait_for_signer(self, within: float) -> str:
        """nostrconnect://: wait for a signer to answer with our secret; returns its pubkey.

        Whatever else arrives (other events, answers without our secret) is ignored: only a
        signer given the URI, which alone carries the secret, can take up the conversation.
        """
        if self._ws is None:
            raise Nip46Error("not connected to the relay")
        deadline = time.monotonic() + within
        try:
            while True:
                signer = self._connect_answer(await self._receive(deadline))
                if signer is not None:
                    self.uri = BunkerURI(signer, self.uri.relays, self.uri.secret)
                    self._signer = nostr_sdk.PublicKey.parse(signer)
                    return signer
        except TimeoutError:
            raise Nip46Error(f"no signer connected within {within:g} s") from None
        except (OSError, WebSocketException) as exc:
            raise Nip46Error(f"lost the connection to the relay ({type(exc).__name__})") from None

    async def _receive(self, deadline: float) -> str | bytes:
        """The relay's next message; TimeoutError once ``deadline`` (monotonic) has passed."""
        assert self._ws is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            return await self._ws.recv()

    def _connect_answer(self, raw: str | bytes) -> str | None:
        """The sender's pubkey when ``raw`` is a signer's connect answer carrying our secret."""
        try:
            message = json.loads(raw)
        except ValueError:
            return None
        event = self._addressed_event(message)
        if event is None:
            return None
        try:
            payload = json.loads(self._decrypt(event["content"], nostr_sdk.PublicKey.parse(event["pubkey"])))
        except Exception:  # undecryptable or not JSON: not for us
            return None
        if not isinstance(payload, dict) or not self.uri.secret:
            return None
        if payload.get("result") != self.uri.secret or payload.get("error"):
            return None
        return str(event["pubkey"])

    def _addressed_event(self, message: Any) -> dict[str, Any] | None:
        """The valid kind 24133 event addressed to us that a relay ``message`` carries, if any."""
        if not isinstance(message, list) or len(message) < 3 or message[0] != "EVENT":
            return None
        event = message[2]
        try:
            verify_event(event, kinds={NIP46_KIND})
        except InvalidEvent:
            return None
        if self.app_pubkey not in tag_values(event, "p"):
            return None
        return dict(event)

    async def request(self, method: str, params: list[str]) -> str:
        """Send one request and wait for its reply; returns ``result`` or raises Nip46Error."""
        if self._ws is None:
            raise Nip46Error("not connected to the signer's relay")
        request_id = secrets.token_hex(8)
        body = json.dumps({"id": request_id, "method": method, "params": params})
        event = sign_event(
            self.app_keys,
            kind=NIP46_KIND,
            content=self._encrypt(body),
            tags=[["p", self.uri.signer_pubkey]],
            created_at=int(time.time()),
        )
        auth_url: str | None = None
        deadline = time.monotonic() + self.timeout
        try:
            await self._ws.send(json.dumps(["EVENT", event]))
            while True:
                reply = self._reply_for(await self._receive(deadline), event["id"], request_id)
                if reply is None:
                    continue
                result, error = reply
                if result == "auth_url":
                    # The signer wants the user to approve in a browser; keep waiting for the answer.
                    auth_url = error
                    continue
                if error:
                    raise Nip46Error(f"the signer refused {method}: {error}")
                return result
        except TimeoutError:
            if auth_url:
                raise Nip46Error(
                    f"the signer asks for approval at {auth_url}; approve it and try again"
                ) from None
            raise Nip46Error(f"the signer did not answer {method} within {self.timeout:g} s") from None
        except (OSError, WebSocketException) as exc:
            raise Nip46Error(f"lost the connection to the signer's relay ({type(exc).__name__})") from None

    def _reply_for(self, raw: str | bytes, request_event_id: str, request_id: str) -> tuple[str, str] | None:
        """(result, error) when ``raw`` is the signer's answer to our request, else None."""
        try:
            message = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(message, list) or not message:
            return None
        if (
            message[0] == "OK"
            and len(message) >= 3
            and message[1] in (request_event_id, "")
            and message[2] is not True
        ):
            reason = message[3] if len(message) > 3 else ""
            raise Nip46Error(f"the signer's relay refused our request: {reason}")
        event = self._addressed_event(message)
        if event is None or self._signer is None or event["pubkey"] != self.uri.signer_pubkey:
            return None
        try:
            payload = json.loads(self._decrypt(event["content"], self._signer))
        except Exception:  # undecryptable or not JSON: not a reply we can use
            return None
        if not isinstance(payload, dict) or payload.get("id") != request_id:
            return None
        result, error = payload.get("result"), payload.get("error")
        return (result if isinstance(result, str) else "", error if isinstance(error, str) else "")

    # -- methods --------------------------------------------------------------------------------
    async def connect(self) -> None:
        params = [self.uri.signer_pubkey]
        if self.uri.secret:
            params.append(self.uri.secret)
        result = await self.request("connect", params)
        if result not in ("ack", self.uri.secret):
            raise Nip46Error("the signer did not acknowledge connect")

    async def get_public_key(self) -> str:
        result = (await self.request("get_public_key", [])).lower()
        if not HEX64.match(result):
            raise Nip46Error("the signer returned a malformed public key")
        self.user_pubkey = result
        return result

    async def sign_event(self, template: dict[str, Any]) -> dict[str, Any]:
        """Have the signer sign ``template`` (kind, content, tags, created_at); verified here."""
        expected = self.user_pubkey or await self.get_public_key()
        unsigned = {**template, "pubkey": expected}
        result = await self.request("sign_event", [json.dumps(unsigned)])
        try:
            event = json.loads(result)
            verify_event(event, kinds={template["kind"]})
        except (ValueError, InvalidEvent) as exc:
            reason = exc.reason if isinstance(exc, InvalidEvent) else "not JSON"
            raise Nip46Error(f"the signer returned an invalid event: {reason}") from None
        if event["pubkey"] != expected:
            raise Nip46Error("the signer signed with another key than the one it reported")
        for key in ("kind", "content", "tags", "created_at"):
            if event[key] != template[key]:
                raise Nip46Error(f"the signer changed the event's {key}")
        return dict(event)

    async def ping(self) -> None:
        if await self.request("ping", []) != "pong":
            raise Nip46Error("the signer did not answer ping with pong")
