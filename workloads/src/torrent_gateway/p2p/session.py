"""libtorrent sessions: configured explicitly, persisted, and driven through their alert queue.

libtorrent turns on the DHT with public routers, local service discovery, UPnP and NAT-PMP by
default; :func:`session_settings` builds every setting we rely on from our options, so nothing
reaches a network the configuration does not name.

Two sessions make up the P2P component (see ``app.P2PNode``):

* the **node** session owns the DHT port and the routing table. It seeds nothing; it stores
  announces (ours included) and answers ``get_peers`` for them, and it is what clients and other
  pods bootstrap from;
* the **seeder** session listens on the peer port, seeds our torrents over the peer wire and
  announces them to the DHT (through the node and the configured bootstrap nodes) and to our
  tracker. A DHT node does not store its own announces, so a seeder inside the node's own session
  could not be found through that node: keeping them apart is what makes "bootstrap from our
  node, find our seeder" work.

Every call we make on a session from the event loop is non-blocking (libtorrent posts it to its
network thread); results come back as alerts, popped by one task per session
(:meth:`LtSession._pump`) and handed to subscribers. Construction, state saving and destruction
block, so they run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import libtorrent as lt

from ..bencode import BencodeError, bdecode
from .options import P2POptions, split_host_port

log = logging.getLogger(__name__)

T = TypeVar("T")
Role = Literal["node", "seeder"]
AlertHandler = Callable[[Any], None]

ALERT_MASK = (
    lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.dht_operation
    | lt.alert_category.tracker
)
_NODE_ID_RE = re.compile(r"\(([0-9a-f]{40})\)")
_MAX_ALERTS_PER_TICK = 10_000
MAX_RESTORED_NODES = 200


def listen_interfaces(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):
        return f"0.0.0.0:{port}"
    if host == "::":
        return f"[::]:{port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bootstrap_string(nodes: tuple[str, ...] | list[str]) -> str:
    """libtorrent's ``dht_bootstrap_nodes``: ``host:port`` entries joined by commas."""
    entries = []
    for entry in nodes:
        host, port = split_host_port(entry)
        entries.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return ",".join(entries)


def session_settings(role: Role, options: P2POptions, *, node_address: str | None = None) -> dict[str, Any]:
    """The complete settings pack of one of our sessions (pure, unit-tested).

    ``node_address`` (``host:port`` of our own DHT node) is added to the seeder's bootstrap
    list so that the seeder always announces to our node.
    """
    port = options.dht_port if role == "node" else options.peer_port
    bootstrap = list(options.bootstrap_nodes)
    if role == "seeder" and node_address:
        bootstrap.insert(0, node_address)
    pack: dict[str, Any] = {
        "listen_interfaces": listen_interfaces(options.host, port),
        "enable_dht": True,
        "dht_bootstrap_nodes": bootstrap_string(bootstrap),
        # No discovery or port mapping beyond what the configuration names.
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "alert_mask": int(ALERT_MASK),
        "alert_queue_size": 20_000,
        "dht_announce_interval": max(60, int(options.announce_interval)),
        # Shutdown must not hang on tracker "stopped" announces.
        "stop_tracker_timeout": 1,
        "user_agent": "torrent-gateway/0.1 libtorrent/" + lt.__version__,
        "peer_fingerprint": "-TG0100-",
    }
    if role == "node":
        # The node carries DHT traffic only; it accepts no peer connections.
        pack.update(
            {
                "enable_incoming_tcp": False,
                "enable_outgoing_tcp": False,
                "enable_incoming_utp": False,
                "enable_outgoing_utp": False,
                "dht_max_torrents": 20_000,
                "dht_max_peers": 2_000,
            }
        )
    else:
        # Every torrent is active: none is queued behind libtorrent's auto-manager.
        pack.update(
            {
                "active_limit": -1,
                "active_seeds": -1,
                "active_dht_limit": -1,
                "active_tracker_limit": -1,
                "dont_count_slow_torrents": True,
                "seed_choking_algorithm": 1,  # fastest upload: hand slots to the quickest peers
                "announce_to_all_tiers": False,
                # Announce when our tracker asks (its ``interval``): libtorrent's floor of 300 s
                # would hold back any shorter interval; the tracker's own ``min interval`` is ours.
                "min_announce_interval": max(1, options.tracker_min_interval),
                "connections_limit": 500,
            }
        )
    if options.local_network:
        # A DHT of loopback/private nodes (tests, a LAN, cluster pods): libtorrent's defences of
        # the public DHT would otherwise drop or refuse every node we know.
        pack.update(
            {
                "dht_restrict_routing_ips": False,
                "dht_restrict_search_ips": False,
                "dht_prefer_verified_node_ids": False,
                "dht_enforce_node_id": False,
                "dht_ignore_dark_internet": False,
                "allow_multiple_connections_per_ip": True,
            }
        )
    pack.update(options.extra_settings)
    return pack


def read_state(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return data or None


def write_state(path: Path, data: bytes) -> None:
    """Atomically replace the state file (a crash leaves the old or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def saved_nodes(state: bytes, limit: int = MAX_RESTORED_NODES) -> list[tuple[str, int]]:
    """The routing-table nodes in a saved session state (compact endpoints, BEP 5 style)."""

    try:
        decoded = bdecode(state)
    except BencodeError:
        return []
    dht = decoded.get(b"dht state") if isinstance(decoded, dict) else None
    found: list[tuple[str, int]] = []
    for key in (b"nodes", b"nodes6"):
        entries = dht.get(key) if isinstance(dht, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, bytes) and len(entry) in (6, 18):
                family = socket.AF_INET if len(entry) == 6 else socket.AF_INET6
                port = int.from_bytes(entry[-2:], "big")
                if port:
                    found.append((socket.inet_ntop(family, entry[:-2]), port))
    return found[:limit]


def _open_session(pack: dict[str, Any], state: bytes | None) -> Any:
    if state is not None:
        try:
            params = lt.read_session_params(state)
        except Exception:  # a corrupt state file costs the routing table, not the start
            log.warning("ignoring unreadable libtorrent session state", exc_info=True)
        else:
            params.settings = pack  # type: ignore[assignment]  # the binding converts a dict
            return lt.session(params)
    return lt.session(pack)  # type: ignore[call-overload]  # the binding converts a dict


class LtSession:
    """One libtorrent session plus the task that pops its alerts and dispatches them."""

    def __init__(
        self,
        name: str,
        pack: dict[str, Any],
        state_file: Path | None = None,
        *,
        poll_interval: float = 0.05,
    ) -> None:
        self.name = name
        self.pack = pack
        self.state_file = state_file
        self.poll_interval = poll_interval
        self.session: Any = None
        self.port = 0
        self.node_id = ""
        self.routing_nodes = 0
        self.restored_nodes: list[tuple[str, int]] = []
        # The UDP sockets libtorrent opened, as (address, port): a wildcard bind opens one per
        # interface (each with its own port when the configured port is 0).
        self.udp_endpoints: list[tuple[str, int]] = []
        self._listening = asyncio.Event()
        self._handlers: list[AlertHandler] = []
        self._pump_task: asyncio.Task[None] | None = None
        self._pump_error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        state = await asyncio.to_thread(read_state, self.state_file) if self.state_file else None
        self.session = await asyncio.to_thread(_open_session, self.pack, state)
        self.port = int(await asyncio.to_thread(self.session.listen_port))
        # libtorrent 2.x drops the saved routing table when its sockets open after the DHT starts;
        # feeding the saved nodes back makes the node rejoin through them instead of from scratch.
        self.restored_nodes = saved_nodes(state) if state else []
        for node in self.restored_nodes:
            self.session.add_dht_node(node)
        self._pump_task = asyncio.get_running_loop().create_task(self._pump(), name=f"lt-alerts-{self.name}")
        log.info("libtorrent %s session listening on port %d", self.name, self.port)

    @property
    def running(self) -> bool:
        return self.session is not None and self._pump_task is not None and not self._pump_task.done()

    async def save_state(self) -> None:
        """Write the session state (DHT node id and routing table) to the state file."""
        if self.session is None or self.state_file is None:
            return
        session, path = self.session, self.state_file

        def save() -> None:
            write_state(path, lt.write_session_params_buf(session.session_state()))

        await asyncio.to_thread(save)

    async def close(self) -> None:
        if self.session is None:
            return
        with contextlib.suppress(Exception):
            await self.save_state()
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        holder = [self.session]
        self.session = None
        # The destructor waits for libtorrent's threads: the last reference dies in a worker thread.
        await asyncio.to_thread(_destroy, holder)

    # -- alerts ----------------------------------------------------------------------------------
    def subscribe(self, handler: AlertHandler) -> Callable[[], None]:
        self._handlers.append(handler)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._handlers.remove(handler)

        return unsubscribe

    async def _pump(self) -> None:
        while True:
            alerts = self.session.pop_alerts()
            for alert in alerts[:_MAX_ALERTS_PER_TICK]:
                self._observe(alert)
                for handler in list(self._handlers):
                    try:
                        handler(alert)
                    except Exception:
                        log.exception("alert handler failed on %s", type(alert).__name__)
            await asyncio.sleep(self.poll_interval)

    def _observe(self, alert: Any) -> None:
        if isinstance(alert, lt.dht_stats_alert):
            self.routing_nodes = sum(int(b["num_nodes"]) for b in alert.routing_table)
            match = _NODE_ID_RE.search(alert.message())
            if match:
                self.node_id = match.group(1)
        elif isinstance(alert, lt.listen_succeeded_alert):
            if alert.socket_type == lt.socket_type_t.udp:
                self.udp_endpoints.append((str(alert.address), int(alert.port)))
                self._listening.set()
        elif isinstance(alert, lt.listen_failed_alert):
            log.error("libtorrent %s session: %s", self.name, alert.message())

    async def reachable_endpoint(self, host: str, within: float = 5.0) -> tuple[str, int]:
        """A concrete (address, port) where this session's DHT answers, for a bind to ``host``.

        An explicit host is its own answer. A wildcard bind (``0.0.0.0``, ``::``) opens a socket per
        interface, and libtorrent runs no DHT on the loopback one: the address to introduce is a
        non-loopback, non-link-local one of the bind's family (the pod's address), with that
        socket's port; loopback only when there is nothing else.
        """
        if host not in ("", "0.0.0.0", "::"):
            return host, self.port
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), within)
        family = socket.AF_INET6 if host == "::" else socket.AF_INET
        candidates = [(a.partition("%")[0], p) for a, p in self.udp_endpoints if _family(a) == family]
        for address, port in candidates:
            parsed = ipaddress.ip_address(address)
            if not (parsed.is_loopback or parsed.is_link_local or parsed.is_unspecified):
                return address, port
        loopback = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        return next(((a, p) for a, p in candidates if a == loopback), (loopback, self.port))

    async def request(self, post: Callable[[], None], match: Callable[[Any], T | None], within: float) -> T:
        """Call ``post()`` and wait for the first alert ``match`` turns into a value."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def handler(alert: Any) -> None:
            if future.done():
                return
            value = match(alert)
            if value is not None:
                future.set_result(value)

        unsubscribe = self.subscribe(handler)
        try:
            post()
            return await asyncio.wait_for(future, within)
        finally:
            unsubscribe()

    async def session_stats(self, within: float = 3.0) -> dict[str, int]:
        def match(alert: Any) -> dict[str, int] | None:
            return dict(alert.values) if isinstance(alert, lt.session_stats_alert) else None

        return await self.request(self.session.post_session_stats, match, within)

    async def dht_stats(self, within: float = 3.0) -> tuple[str, int]:
        """(node id hex, nodes in the routing table)."""

        def match(alert: Any) -> bool | None:
            return True if isinstance(alert, lt.dht_stats_alert) else None

        await self.request(self.session.post_dht_stats, match, within)
        return self.node_id, self.routing_nodes

    def is_dht_running(self) -> bool:
        return bool(self.session is not None and self.session.is_dht_running())


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _destroy(holder: list[Any]) -> None:
    session = holder.pop()
    session.pause()
    del session


def sha1_hash(infohash_hex: str) -> Any:
    return lt.sha1_hash(bytes.fromhex(infohash_hex))
