"""WebSocket tracker frontend for WebTorrent (the protocol of bittorrent-tracker).

Clients send JSON: ``announce`` (with ``offers`` to hand to other peers of the swarm, or an
``answer`` for one peer named by ``to_peer_id``) and ``scrape``. Infohashes and peer ids are
20-character "binary strings" (code points 0-255). The tracker keeps WebRTC swarms apart from the
IP swarms; a member's endpoint is the relay address of the tracker node holding its socket, so an
offer or answer for a peer on another replica goes through the swarm store's relay (Redis
pub/sub) and is written to the socket there.

Limits: messages over ``MAX_MESSAGE`` close the socket (1009); at most ``MAX_OFFERS`` offers are
relayed per announce; each socket has a bounded outgoing queue (a slow reader loses messages,
never the tracker's memory) and may announce at most ``MAX_SWARMS_PER_SOCKET`` torrents.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from . import metrics
from .logic import MAX_SCRAPE, TrackerLogic
from .model import AnnounceRequest, ClientError, Event, SwarmKind
from .ratelog import RateLimitedLog
from .swarm import SwarmStore

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_MESSAGE = 64 * 1024
MAX_OFFERS = 82  # the reference tracker's ceiling on peers per WebSocket announce
MAX_OFFER_ID = 128
MAX_SWARMS_PER_SOCKET = 256
QUEUE_SIZE = 256
CLEANUP_TIMEOUT = 5.0

_EVENTS = {
    None: Event.NONE,
    "": Event.NONE,
    "update": Event.NONE,
    "started": Event.STARTED,
    "completed": Event.COMPLETED,
    "stopped": Event.STOPPED,
}


def _binary(data: dict[str, Any], name: str) -> bytes:
    value = data.get(name)
    if not isinstance(value, str) or len(value) != 20:
        raise ClientError(f"invalid {name}")
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise ClientError(f"invalid {name}") from None


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


class _Socket:
    """One client connection: its outgoing queue and what it announced."""

    __slots__ = ("queue", "peer_id", "swarms")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.peer_id: bytes | None = None
        self.swarms: set[bytes] = set()

    def push(self, text: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(text)


class WebSocketFrontend:
    def __init__(self, logic: TrackerLogic, store: SwarmStore, node: bytes, *, idle_timeout: float) -> None:
        self.logic = logic
        self.store = store
        self.node = node
        self.interval = max(1, -(-logic.config.interval // 5))
        self.idle_timeout = idle_timeout
        self._local: dict[bytes, _Socket] = {}
        self._errors = RateLimitedLog(log)

    async def start(self) -> None:
        await self.store.subscribe(self.node, self._on_relay)

    def _on_relay(self, message: bytes) -> None:
        """A message for one of our sockets: 20 bytes of peer id, then the JSON text."""
        target = self._local.get(message[:20])
        if target is not None:
            target.push(message[20:].decode())

    async def _deliver(self, endpoint: bytes, peer_id: bytes, text: str) -> None:
        if endpoint == self.node:
            target = self._local.get(peer_id)
            if target is not None:
                target.push(text)
        else:
            await self.store.publish(endpoint, peer_id + text.encode())

    # -- connection -----------------------------------------------------------------------------
    async def handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        sock = _Socket()
        metrics.WS_CONNECTIONS.inc()
        writer = asyncio.get_running_loop().create_task(self._writer(sock, send), name="ws-writer")
        try:
            await self._reader(sock, receive, send)
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            metrics.WS_CONNECTIONS.dec()
            await self._forget(sock)

    async def _writer(self, sock: _Socket, send: Send) -> None:
        while True:
            text = await sock.queue.get()
            try:
                await send({"type": "websocket.send", "text": text})
            except Exception:  # the socket went away; the reader sees the disconnect
                return

    async def _reader(self, sock: _Socket, receive: Receive, send: Send) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    event = await receive()
            except TimeoutError:
                await send({"type": "websocket.close", "code": 1000, "reason": "idle"})
                return
            kind = event["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            text = event.get("text")
            if text is None:
                sock.push(json.dumps({"failure reason": "binary frames are not accepted; send JSON text"}))
                continue
            if len(text) > MAX_MESSAGE:
                await send({"type": "websocket.close", "code": 1009, "reason": "message too big"})
                return
            await self._message(sock, text)

    async def _forget(self, sock: _Socket) -> None:
        """The socket closed: its peer leaves every swarm it announced (as the reference does)."""
        peer_id = sock.peer_id
        if peer_id is None:
            return
        holder = self._local.get(peer_id)
        if holder is not sock and holder is not None:
            return  # the client reconnected: its new socket holds these memberships now
        self._local.pop(peer_id, None)
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT):
                for info_hash in sock.swarms:
                    await self.store.announce(
                        info_hash,
                        SwarmKind.WEBRTC,
                        peer_id,
                        self.node,
                        seeder=False,
                        event=Event.STOPPED,
                        numwant=0,
                    )
        except Exception:
            self._errors.exception("removing a closed WebSocket's peers failed")

    # -- messages -------------------------------------------------------------------------------
    async def _message(self, sock: _Socket, text: str) -> None:
        action: Any = None
        try:
            try:
                data = json.loads(text)
            except ValueError:
                raise ClientError("invalid JSON") from None
            if not isinstance(data, dict):
                raise ClientError("a message must be a JSON object")
            action = data.get("action")
            if action == "announce":
                await self._announce(sock, data)
            elif action == "scrape":
                await self._scrape(sock, data)
            else:
                raise ClientError("action must be announce or scrape")
        except ClientError as exc:
            metrics.CLIENT_ERRORS_WS.inc()
            reply: dict[str, Any] = {"failure reason": str(exc)}
            if action in ("announce", "scrape"):
                reply["action"] = action
            sock.push(json.dumps(reply))
        except Exception:
            metrics.INTERNAL_ERRORS_WS.inc()
            self._errors.exception("WebSocket message failed")
            sock.push(json.dumps({"failure reason": "internal error"}))

    async def _announce(self, sock: _Socket, data: dict[str, Any]) -> None:
        info_hash = _binary(data, "info_hash")
        peer_id = _binary(data, "peer_id")
        if sock.peer_id is None:
            sock.peer_id = peer_id
            self._local[peer_id] = sock
        elif sock.peer_id != peer_id:
            raise ClientError("peer_id changed on this connection")
        if info_hash not in sock.swarms and len(sock.swarms) >= MAX_SWARMS_PER_SOCKET:
            raise ClientError(f"at most {MAX_SWARMS_PER_SOCKET} torrents per connection")
        event_name = data.get("event")
        event = _EVENTS.get(event_name) if event_name is None or isinstance(event_name, str) else None
        if event is None:
            raise ClientError("event must be started, completed, stopped or absent")
        offers = data.get("offers")
        answer = data.get("answer")
        if offers is not None:
            offers = self._offers(offers)
        if answer is not None:
            if not isinstance(answer, dict):
                raise ClientError("answer must be an object")
            to_peer_id = _binary(data, "to_peer_id")
            offer_id = data.get("offer_id")
            if not isinstance(offer_id, str) or len(offer_id) > MAX_OFFER_ID:
                raise ClientError("invalid offer_id")
        left = data.get("left")
        if isinstance(left, (int, float)) and not isinstance(left, bool):
            seeder = left == 0
        else:
            # Answers carry no `left`: the peer keeps the role it announced before (as in the
            # reference tracker); unknown peers count as leechers.
            known = await self.store.get_peer(info_hash, SwarmKind.WEBRTC, peer_id)
            seeder = known is not None and known.seeder
        reply = await self.logic.announce(
            AnnounceRequest(
                info_hash=info_hash,
                peer_id=peer_id,
                kind=SwarmKind.WEBRTC,
                endpoint=self.node,
                left=0 if seeder else 1,
                event=event,
                numwant=len(offers) if offers else 0,
                protocol="ws",
            ),
            cap=MAX_OFFERS,
        )
        metrics.ANNOUNCES_WS.inc()
        if event == Event.STOPPED:
            sock.swarms.discard(info_hash)
        else:
            sock.swarms.add(info_hash)
        ih_text, pid_text = _text(info_hash), _text(peer_id)
        if answer is None:
            sock.push(
                json.dumps(
                    {
                        "action": "announce",
                        "interval": self.interval,
                        "info_hash": ih_text,
                        "complete": reply.complete,
                        "incomplete": reply.incomplete,
                    }
                )
            )
        if offers:
            for peer, offer in zip(reply.peers, offers, strict=False):
                text = json.dumps(
                    {
                        "action": "announce",
                        "offer": offer["offer"],
                        "offer_id": offer["offer_id"],
                        "peer_id": pid_text,
                        "info_hash": ih_text,
                    }
                )
                await self._deliver(peer.endpoint, peer.peer_id, text)
                metrics.WS_RELAYED.labels("offer").inc()
        if answer is not None:
            target = await self.store.get_peer(info_hash, SwarmKind.WEBRTC, to_peer_id)
            if target is None:
                return  # the offerer left; like the reference tracker, nothing to tell
            text = json.dumps(
                {
                    "action": "announce",
                    "answer": answer,
                    "offer_id": offer_id,
                    "peer_id": pid_text,
                    "info_hash": ih_text,
                }
            )
            await self._deliver(target.endpoint, to_peer_id, text)
            metrics.WS_RELAYED.labels("answer").inc()

    @staticmethod
    def _offers(offers: Any) -> list[dict[str, Any]]:
        if not isinstance(offers, list):
            raise ClientError("offers must be a list")
        checked = []
        for item in offers[:MAX_OFFERS]:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("offer"), dict)
                or not isinstance(item.get("offer_id"), str)
                or len(item["offer_id"]) > MAX_OFFER_ID
            ):
                raise ClientError("each offer needs an offer object and an offer_id string")
            checked.append(item)
        return checked

    async def _scrape(self, sock: _Socket, data: dict[str, Any]) -> None:
        raw = data.get("info_hash")
        items = raw if isinstance(raw, list) else [raw] if raw is not None else []
        if not items:
            raise ClientError("name at least one info_hash (full scrapes are not offered)")
        hashes: dict[bytes, None] = {}
        for item in items[:MAX_SCRAPE]:
            hashes[_binary({"info_hash": item}, "info_hash")] = None
        wanted = list(hashes)
        counts = await self.logic.scrape(wanted, (SwarmKind.WEBRTC,))
        files = {
            _text(ih): {"complete": c.complete, "incomplete": c.incomplete, "downloaded": c.downloaded}
            for ih, c in zip(wanted, counts, strict=True)
            if c is not None
        }
        metrics.SCRAPES_WS.inc()
        sock.push(json.dumps({"action": "scrape", "files": files}))
