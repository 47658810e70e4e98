"""The seeder: every torrent we hold (in this pod's shard) seeded over the peer wire and announced.

Where a torrent's bytes come from (the choice, and why):

* **filesystem backend, whole blob** — the blob file *is* the torrent's single file, so the seeder
  hard-links ``blobs/<sha256>`` into ``<data_dir>/links/<sha256>/<name>`` (a symlink when the data
  dir is on another filesystem). No copy, no cache space. Blobs are content-addressed and were
  hashed at ingest, so the torrent starts in libtorrent's *seed mode*: each piece is verified the
  first time it is uploaded instead of re-reading every blob at start.
* **chunked files, and everything on S3** — libtorrent needs one contiguous file, so the file is
  materialised from its chunks into the bounded :class:`~.seedcache.SeedCache`
  (``dht.cache_bytes``, least recently *uploaded* first out). Chunks are checked against their
  SHA-256 while copying and libtorrent then hash-checks the whole file before it seeds. A file
  evicted from the cache is *parked*: no longer seeded or announced until someone asks the peer
  coordinator for it (:meth:`Seeder.ensure`) or room frees up.

Every torrent is added in *upload mode*, so a piece that ever failed its check is never
re-downloaded into our files (a hard link shares its bytes with the object store).

Announces: libtorrent's own DHT announcing is off per torrent (``disable_dht``); the seeder
announces each infohash itself with ``dht_announce`` — right after adding it, once the DHT has
bootstrapped, and every ``announce_interval`` — so only this pod's shard is announced, on our
schedule. The torrents also list our tracker, so tracker clients (aria2c, ...) find the seeder.
A file uploaded with ``announce_dht=false`` (its manifest's ``announce_dht``) is seeded and sent
to the tracker like any other but never announced to the DHT.
Removing a torrent sends ``stopped`` to the tracker; DHT entries cannot be withdrawn and expire
on the storing nodes (~30 min in libtorrent), so a removed file stops being *re*-announced.

The catalog's ``on_added``/``on_removed`` hooks keep the set current within this process; in a
cluster the dht pods do not see the gateway's hooks, so :meth:`Seeder.reconcile` also rescans the
manifests every ``rescan_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import libtorrent as lt

from ..catalog import Catalog
from ..manifest import Manifest, blob_key, is_sha256, torrent_key
from ..storage import ObjectNotFound, ObjectStore
from ..supervisor import Supervisor
from . import metrics
from .coordinator import PeerBook
from .options import P2POptions
from .seedcache import SeedCache
from .session import LtSession, sha1_hash

log = logging.getLogger(__name__)

State = Literal["adding", "checking", "seeding", "error", "parked", "too_large", "missing"]
COPY_BLOCK = 1024 * 1024
_CHECKING = (lt.torrent_status.states.checking_files, lt.torrent_status.states.checking_resume_data)
ADD_TIMEOUT = 30.0
EARLY_REANNOUNCES = (5.0, 30.0)
# Peers whose RTT libtorrent did not measure get a TCP handshake probe: a few per stats round.
MAX_RTT_PROBES = 16
RTT_PROBE_TIMEOUT = 2.0
MIN_RTT_MS = 0.01  # the peer book keeps positive RTTs only; loopback answers in microseconds


def in_shard(infohash: str, shard_index: int, shard_count: int) -> bool:
    """Whether this pod owns ``infohash`` when infohashes are spread over ``shard_count`` pods."""
    return int(infohash, 16) % shard_count == shard_index


def torrent_flags(*, linked: bool) -> int:
    """Flags of every torrent we add: active at once, never downloading, announced by us."""
    flags = lt.torrent_flags.upload_mode | lt.torrent_flags.update_subscribe | lt.torrent_flags.disable_dht
    flags |= lt.torrent_flags.disable_lsd
    if linked:
        flags |= lt.torrent_flags.seed_mode
    return int(flags)


@dataclass
class SeedEntry:
    sha256: str
    infohash: str
    name: str
    size: int
    source: Literal["link", "cache"]
    state: State = "adding"
    handle: Any = None
    error: str = ""
    uploaded: int = 0
    upload_rate: int = 0
    peers: int = 0
    announced_at: float = 0.0
    announces: int = 0
    announce_dht: bool = True
    added_at: float = field(default_factory=time.time)

    def view(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "infohash": self.infohash,
            "name": self.name,
            "size": self.size,
            "source": self.source,
            "state": self.state,
            "error": self.error,
            "uploaded": self.uploaded,
            "upload_rate": self.upload_rate,
            "peers": self.peers,
            "announce_dht": self.announce_dht,
            "announces": self.announces,
            "announced_at": self.announced_at,
        }


class Seeder:
    """Owns the seeder session's torrents; all methods run on the event loop."""

    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        session: LtSession,
        options: P2POptions,
        *,
        peer_book: PeerBook | None = None,
        tasks: Supervisor,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.session = session
        self.options = options
        # Not ``peer_book or ...``: an empty book is falsy, and the node's own book must be filled.
        self.peer_book = peer_book if peer_book is not None else PeerBook()
        self.cache = SeedCache(options.cache_bytes)
        self.entries: dict[str, SeedEntry] = {}  # by infohash
        self.links_dir = options.data_dir / "links"
        self.cache_dir = options.data_dir / "cache"
        self._lock = asyncio.Lock()
        self.tasks = tasks
        self._unsubscribe: Any = None
        self._bootstrapped = asyncio.Event()
        self._by_handle: dict[Any, str] = {}
        self.last_reconcile = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self._prepare_dirs)
        self._unsubscribe = self.session.subscribe(self._on_alert)
        self.catalog.on_added.append(self.on_added)
        self.catalog.on_removed.append(self.on_removed)
        # The first reconcile may copy files into the seed cache: it runs in the background so the
        # process starts serving at once.
        self.tasks.keep_running("p2p-rescan", self._rescan_loop)
        self.tasks.keep_running("p2p-announce", self._announce_loop)
        self.tasks.keep_running("p2p-seed-stats", self._stats_loop)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.catalog.on_added.remove(self.on_added)
        with contextlib.suppress(ValueError):
            self.catalog.on_removed.remove(self.on_removed)
        await self.tasks.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _prepare_dirs(self) -> None:
        # Links are cheap to recreate; a stale one could point at a deleted blob.
        shutil.rmtree(self.links_dir, ignore_errors=True)
        self.links_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Adopt files materialised before a restart (oldest first by mtime) instead of copying again.
        found: list[tuple[float, str, int]] = []
        for entry in self.cache_dir.iterdir():
            files = (
                [p for p in entry.iterdir() if p.is_file() and not p.name.startswith(".part-")]
                if entry.is_dir()
                else []
            )
            if not is_sha256(entry.name) or len(files) != 1:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                continue
            stat = files[0].stat()
            found.append((stat.st_mtime, entry.name, stat.st_size))
        for _, sha, size in sorted(found):
            if self.cache.fits(size):
                for victim in self.cache.admit(sha, size):
                    shutil.rmtree(self.cache_dir / victim, ignore_errors=True)

    # -- catalog hooks ---------------------------------------------------------------------------
    async def on_added(self, manifest: Manifest) -> None:
        if self.owns(manifest):
            async with self._lock:
                await self._add(manifest)

    async def on_removed(self, manifest: Manifest) -> None:
        async with self._lock:
            await self._remove(manifest.infohash)

    def owns(self, manifest: Manifest) -> bool:
        return in_shard(manifest.infohash, self.options.shard_index, self.options.shard_count)

    async def reconcile(self) -> tuple[int, int]:
        """Seed every manifest in our shard and nothing else; returns (added, removed)."""
        wanted: dict[str, Manifest] = {}
        async for manifest in self.catalog.iter_manifests():
            if self.owns(manifest):
                wanted[manifest.infohash] = manifest
        added = removed = 0
        async with self._lock:
            for infohash in [ih for ih in self.entries if ih not in wanted]:
                await self._remove(infohash)
                removed += 1
            # Newest first: when the cache cannot hold everything, recent files win.
            for manifest in sorted(wanted.values(), key=lambda m: m.created, reverse=True):
                if manifest.infohash not in self.entries:
                    await self._add(manifest)
                    added += 1
        self.last_reconcile = time.time()
        metrics.SEEDER_TORRENTS.set(len(self.entries))
        return added, removed

    async def ensure(self, infohash: str) -> bool:
        """Bring a parked torrent back (someone wants it); True when it is seeded or being added."""
        entry = self.entries.get(infohash)
        if entry is None:
            return False
        if entry.state != "parked":
            return entry.state in ("adding", "checking", "seeding")
        manifest = await self.catalog.get(entry.sha256)
        if manifest is None:
            return False
        async with self._lock:
            if self.entries.get(infohash) is entry and entry.state == "parked":
                await self._add(manifest)
        return True

    # -- adding and removing ---------------------------------------------------------------------
    async def _add(self, manifest: Manifest) -> None:
        try:
            torrent = await self.store.get_bytes(torrent_key(manifest.sha256))
        except ObjectNotFound:
            self.entries[manifest.infohash] = SeedEntry(
                manifest.sha256,
                manifest.infohash,
                manifest.name,
                manifest.size,
                "link",
                state="missing",
                error="no stored torrent",
            )
            return
        try:
            info = lt.torrent_info(torrent)
        except RuntimeError as exc:
            self.entries[manifest.infohash] = SeedEntry(
                manifest.sha256,
                manifest.infohash,
                manifest.name,
                manifest.size,
                "link",
                state="error",
                error=f"stored torrent unreadable: {exc}",
            )
            return
        relative = info.layout().file_path(0)
        blob_path = self.store.local_path(blob_key(manifest.sha256)) if manifest.kind == "blob" else None
        source: Literal["link", "cache"] = "link" if blob_path is not None else "cache"
        entry = SeedEntry(
            manifest.sha256,
            manifest.infohash,
            manifest.name,
            manifest.size,
            source,
            announce_dht=manifest.announce_dht,
        )
        self.entries[manifest.infohash] = entry
        try:
            if blob_path is not None:
                save_path = self.links_dir / manifest.sha256
                await asyncio.to_thread(_link_file, blob_path, _inside(save_path, relative))
            else:
                save_path = self.cache_dir / manifest.sha256
                if not await self._materialise(manifest, save_path, relative, entry):
                    return
        except (OSError, ValueError) as exc:
            entry.state, entry.error = "error", f"{type(exc).__name__}: {exc}"
            log.warning("cannot prepare %s for seeding: %s", manifest.sha256, entry.error)
            return
        params = lt.add_torrent_params()
        params.ti = info
        params.save_path = str(save_path)
        params.flags = torrent_flags(linked=source == "link")
        params.trackers = list(self.options.trackers)
        target = manifest.infohash

        def match(alert: Any) -> Any:
            if isinstance(alert, lt.add_torrent_alert) and str(alert.params.info_hashes.v1) == target:
                if not alert.error.value():
                    # Map the handle now: its state alerts follow in the same batch of alerts.
                    entry.handle = alert.handle
                    self._by_handle[alert.handle] = target
                return alert
            return None

        alert = await self.session.request(
            lambda: self.session.session.async_add_torrent(params), match, ADD_TIMEOUT
        )
        if alert.error.value():
            entry.state, entry.error = "error", alert.error.message()
            return
        if entry.state == "adding":
            entry.state = "checking"
        await self._announce(entry)

    async def _materialise(
        self, manifest: Manifest, save_path: Path, relative: str, entry: SeedEntry
    ) -> bool:
        sha = manifest.sha256
        if not self.cache.fits(manifest.size):
            entry.state, entry.error = "too_large", "larger than dht.cache_bytes; served by the WebSeed"
            return False
        target = _inside(save_path, relative)
        present = self.cache.lookup(sha) and await asyncio.to_thread(_size_of, target) == manifest.size
        if not present:
            keep = frozenset(
                e.sha256 for e in self.entries.values() if e.state == "adding" and e.source == "cache"
            )
            try:
                victims = self.cache.plan(manifest.size, keep=keep)
            except ValueError:
                entry.state, entry.error = "parked", "seed cache is full"
                return False
            for victim in victims:
                await self._park(victim)
            await self._copy_from_store(manifest, target)
            self.cache.admit(sha, manifest.size, keep=keep)
        metrics.SEED_CACHE_BYTES.set(self.cache.size)
        return True

    async def _copy_from_store(self, manifest: Manifest, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".part-{os.getpid()}-{target.name}"
        handle = await asyncio.to_thread(open, partial, "wb")
        try:
            if manifest.kind == "chunked":
                for index, digest in enumerate(manifest.chunks):
                    if manifest.data_key is None:
                        data = await self.store.get_bytes(blob_key(digest))
                    else:
                        data = await self.store.read_range(manifest.data_key, *manifest.chunk_span(index))
                    if (
                        hashlib.sha256(data).hexdigest() != digest
                        or len(data) != manifest.chunk_span(index)[1]
                    ):
                        raise OSError(f"chunk {index} of {manifest.sha256} is corrupt in the store")
                    await asyncio.to_thread(handle.write, data)
            else:
                position = 0
                while position < manifest.size:
                    data = await self.store.read_range(blob_key(manifest.sha256), position, COPY_BLOCK)
                    if not data:
                        raise OSError(f"blob {manifest.sha256} ended early at {position}")
                    await asyncio.to_thread(handle.write, data)
                    position += len(data)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, partial, target)
        except BaseException:
            await asyncio.to_thread(handle.close)
            partial.unlink(missing_ok=True)
            raise

    async def _park(self, sha256: str) -> None:
        """Evict a cached file: stop seeding it and delete its copy."""
        self.cache.evict(sha256)
        for entry in self.entries.values():
            if entry.sha256 == sha256 and entry.state != "parked":
                await self._detach(entry)
                entry.state, entry.error = "parked", "evicted from the seed cache"
        await asyncio.to_thread(shutil.rmtree, self.cache_dir / sha256, True)

    async def _remove(self, infohash: str) -> None:
        entry = self.entries.get(infohash)
        if entry is None:
            return
        await self._detach(entry)
        if entry.source == "link":
            await asyncio.to_thread(shutil.rmtree, self.links_dir / entry.sha256, True)
        else:
            self.cache.discard(entry.sha256)
            await asyncio.to_thread(shutil.rmtree, self.cache_dir / entry.sha256, True)
        if self.entries.get(infohash) is entry:
            del self.entries[infohash]  # only now: until its files are gone, diagnostics show it
        metrics.SEEDER_TORRENTS.set(len(self.entries))

    async def _detach(self, entry: SeedEntry) -> None:
        handle, entry.handle = entry.handle, None
        if handle is None or self.session.session is None:
            return
        self._by_handle.pop(handle, None)
        target = entry.infohash

        def match(alert: Any) -> bool | None:
            if isinstance(alert, lt.torrent_removed_alert) and str(alert.info_hashes.v1) == target:
                return True
            return None

        # Removal sends "stopped" to the tracker; wait for it so the files can go.
        with contextlib.suppress(TimeoutError):
            await self.session.request(lambda: self.session.session.remove_torrent(handle), match, 10.0)

    # -- announcing ------------------------------------------------------------------------------
    async def _announce(self, entry: SeedEntry) -> None:
        # announce_dht=false: seeded and on the tracker, but our own announce is the only way the
        # infohash reaches the DHT (libtorrent's is off per torrent), so skipping it keeps it out.
        if self.session.session is None or not entry.announce_dht:
            return
        # implied_port: the storing node records the port each announce leaves from; libtorrent
        # serves TCP and UDP on one port per socket, and a wildcard bind with port 0 gives every
        # interface its own port, so no single configured number would be right.
        self.session.session.dht_announce(
            sha1_hash(entry.infohash), self.session.port, lt.announce_flags_t.implied_port
        )
        entry.announces += 1
        entry.announced_at = time.time()
        metrics.DHT_ANNOUNCES.inc()

    async def announce_all(self) -> int:
        """Announce every seeded infohash to the DHT now; returns how many."""
        count = 0
        for entry in list(self.entries.values()):
            if entry.handle is not None and entry.announce_dht:
                await self._announce(entry)
                count += 1
        metrics.ANNOUNCED_INFOHASHES.set(count)
        return count

    async def _announce_loop(self) -> None:
        # A first round as soon as the seeder's DHT has joined (announces before that go nowhere).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._bootstrapped.wait(), 30.0)
        # Two early rounds cover a DHT that was still filling its routing table at the first one.
        delays = [*EARLY_REANNOUNCES]
        while True:
            try:
                await self.announce_all()
            except Exception:
                log.warning("DHT re-announce failed", exc_info=True)
            await asyncio.sleep(delays.pop(0) if delays else self.options.announce_interval)

    async def _rescan_loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.warning("seeder rescan failed", exc_info=True)
            await asyncio.sleep(self.options.rescan_interval)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.stats_interval)
            try:
                await self.refresh()
            except Exception:  # one bad round must not end the peer book's updates
                log.warning("seeder stats round failed", exc_info=True)

    async def refresh(self) -> None:
        """Ask libtorrent for torrent states (answers arrive as alerts) and note our peers' RTTs."""
        if self.session.session is None:
            return
        self.session.session.post_torrent_updates()
        handles = [e.handle for e in self.entries.values() if e.handle is not None and e.peers]
        if handles:
            await self.observe_peers(handles)

    async def observe_peers(self, handles: list[Any]) -> None:
        """Put the peers connected to our seeder in the peer book with a round-trip time.

        libtorrent 2.1's binding cannot convert ``peer_info_alert.peer_info`` (a TypeError), so the
        list is read with ``get_peer_info`` in a worker thread (it waits for the network thread).
        libtorrent measures ``rtt`` only on pieces *it* requested: a peer that only downloads from
        us has rtt 0, and then the TCP handshake time to its address is the measure (see
        :func:`probe_rtt`; only addresses already connected to us are probed, a few per round).
        """
        now = time.time()
        probes: list[tuple[str, int, bool]] = []
        for handle in handles:
            try:
                peers = await asyncio.to_thread(handle.get_peer_info)
            except RuntimeError:  # the torrent went away meanwhile
                continue
            for peer in peers:
                ip, port = peer.ip[0], int(peer.ip[1])
                seed = bool(peer.flags & lt.peer_info.seed)  # ``peer.seed`` is the flag's constant
                if peer.rtt > 0:
                    self.peer_book.observe(ip, rtt_ms=float(peer.rtt), seed=seed, now=now)
                elif self.peer_book.rtt(ip, now) is None and len(probes) < MAX_RTT_PROBES:
                    probes.append((ip, port, seed))
        results = await asyncio.gather(*(probe_rtt(ip, port) for ip, port, _ in probes))
        for (ip, _, seed), rtt in zip(probes, results, strict=True):
            if rtt is not None:
                self.peer_book.observe(ip, rtt_ms=rtt, seed=seed, now=now)

    # -- alerts ----------------------------------------------------------------------------------
    def _on_alert(self, alert: Any) -> None:
        if isinstance(alert, lt.dht_bootstrap_alert):
            self._bootstrapped.set()
        elif isinstance(alert, lt.state_update_alert):
            for status in alert.status:
                self._update(status)
        elif isinstance(alert, lt.state_changed_alert):
            entry = self._entry_of(alert.handle)
            if entry is not None and entry.state not in ("error", "parked"):
                if alert.state == lt.torrent_status.states.seeding:
                    entry.state = "seeding"
                elif alert.state in _CHECKING:
                    entry.state = "checking"
        elif isinstance(alert, lt.torrent_checked_alert):
            # A check that left pieces missing never reaches "seeding": ask for the details.
            if self.session.session is not None:
                self.session.session.post_torrent_updates()
        elif isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
            entry = self._entry_of(alert.handle)
            if entry is not None:
                entry.state, entry.error = "error", alert.message()

    def _entry_of(self, handle: Any) -> SeedEntry | None:
        infohash = self._by_handle.get(handle)
        return self.entries.get(infohash) if infohash is not None else None

    def _update(self, status: Any) -> None:
        entry = self.entries.get(str(status.info_hashes.v1))
        if entry is None:
            return
        if status.total_payload_upload > entry.uploaded and entry.source == "cache":
            self.cache.touch(entry.sha256)  # LRU by use: an uploading file stays
        entry.uploaded = int(status.total_payload_upload)
        entry.upload_rate = int(status.upload_payload_rate)
        entry.peers = int(status.num_peers)
        if status.errc.value():
            entry.state, entry.error = "error", status.errc.message()
        elif status.is_seeding:
            entry.state = "seeding"
        elif status.state in _CHECKING:
            entry.state = "checking"
        elif status.state == lt.torrent_status.states.downloading:
            # Upload mode never fetches: a torrent left "downloading" after its check lacks pieces.
            entry.state = "error"
            entry.error = f"{status.num_pieces} pieces passed libtorrent's hash check, some failed"

    # -- views -----------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.entries.values():
            counts[entry.state] = counts.get(entry.state, 0) + 1
        return counts

    def announced(self) -> list[str]:
        return sorted(e.infohash for e in self.entries.values() if e.handle is not None and e.announces)


async def probe_rtt(ip: str, port: int) -> float | None:
    """Milliseconds from SYN to the peer's answer (SYN-ACK or RST: both take one round trip), or None.

    No byte is sent: the connection is closed as soon as it is made.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(RTT_PROBE_TIMEOUT):
            _, writer = await asyncio.open_connection(ip, port)
    except ConnectionRefusedError:
        return max((loop.time() - started) * 1000.0, MIN_RTT_MS)
    except (OSError, TimeoutError):
        return None
    elapsed = loop.time() - started
    writer.transport.abort()
    return max(elapsed * 1000.0, MIN_RTT_MS)


def _inside(directory: Path, relative: str) -> Path:
    """``directory/relative``, refusing names that would escape ``directory``."""
    target = (directory / relative).resolve()
    if not target.is_relative_to(directory.resolve()) or target == directory.resolve():
        raise ValueError(f"torrent file path {relative!r} escapes the seed directory")
    return target


def _link_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        os.symlink(source, target)


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1
