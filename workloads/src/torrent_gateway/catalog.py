"""The catalog: reading and writing manifests, ownership, and the state-store indexes over them.

Indexes (all rebuildable from the manifests by :meth:`Catalog.reindex`):

* ``idx:recent``            sorted set sha256 → created
* ``idx:owner:<pubkey>``    sorted set sha256 → time the owner added it
* ``idx:owners``            sorted set pubkey → last upload time
* ``idx:infohash``          hash infohash hex → sha256 (v1 and v2)
* ``idx:refs:<blob sha>``   sorted set file sha256 → 1 for every file whose bytes hold that blob
  (the file itself, or each of its chunks, whether stored as blobs or inside its data object)

Other components react to files appearing and disappearing through the ``on_added`` and
``on_removed`` hooks (tracker registration, DHT announce, Nostr events, HLS).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

from .manifest import Manifest, blob_key, hls_prefix, manifest_key, torrent_key
from .state import StateStore
from .storage import ObjectNotFound, ObjectStore, StoreUnavailable

log = logging.getLogger(__name__)

Hook = Callable[[Manifest], Awaitable[None]]
RECENT_MANIFESTS = 1024


class Catalog:
    def __init__(self, store: ObjectStore, state: StateStore) -> None:
        self.store = store
        self.state = state
        self.on_added: list[Hook] = []
        self.on_removed: list[Hook] = []
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._recent: OrderedDict[str, Manifest] = OrderedDict()

    def lock(self, sha256: str) -> asyncio.Lock:
        return self._locks[sha256]

    async def get(self, sha256: str) -> Manifest | None:
        """The manifest, or None. While the store is unreachable, a recently read copy is served
        (stale-if-error), so hot files stay downloadable from the chunk cache through an outage."""
        try:
            raw = await self.store.get_bytes(manifest_key(sha256))
        except ObjectNotFound:
            self._recent.pop(sha256, None)
            return None
        except StoreUnavailable:
            cached = self._recent.get(sha256)
            if cached is None:
                raise
            return cached.model_copy(deep=True)
        manifest = Manifest.model_validate_json(raw)
        self._remember(manifest)
        return manifest

    def _remember(self, manifest: Manifest) -> None:
        self._recent[manifest.sha256] = manifest
        self._recent.move_to_end(manifest.sha256)
        while len(self._recent) > RECENT_MANIFESTS:
            self._recent.popitem(last=False)

    async def save(self, manifest: Manifest) -> None:
        """Write the manifest (atomically) — after every object it references exists."""
        await self.store.put_bytes(manifest_key(manifest.sha256), manifest.model_dump_json().encode())
        self._remember(manifest.model_copy(deep=True))

    async def by_infohash(self, infohash: str) -> Manifest | None:
        sha = await self.state.hget("idx:infohash", infohash.lower())
        return await self.get(sha.decode()) if sha else None

    async def publish(self, manifest: Manifest, owner: str | None) -> tuple[Manifest, bool]:
        """Make a fully stored file visible; returns (record, created). Same content → same record.

        ``owner`` None is an anonymous upload: it marks the record ``anonymous``, a reference that
        keeps the bytes however many owners later claim and give up the same content. A record
        written before that mark existed and having no owner was published anonymously too.
        """
        async with self.lock(manifest.sha256):
            existing = await self.get(manifest.sha256)
            created = existing is None
            record = existing or manifest
            changed = created
            if existing is not None and not existing.owners and not existing.anonymous:
                record.anonymous = changed = True
            if owner is None and not record.anonymous:
                record.anonymous = changed = True
            if owner and owner not in record.owners:
                record.owners[owner] = time.time()
                changed = True
            if changed:
                await self.save(record)
            await self._index(record)
        if created:
            self._fire(self.on_added, record)
        return record, created

    async def _index(self, manifest: Manifest) -> None:
        await self.state.zadd("idx:recent", manifest.sha256, manifest.created)
        await self.state.hset("idx:infohash", manifest.infohash, manifest.sha256.encode())
        if manifest.infohash_v2:
            await self.state.hset("idx:infohash", manifest.infohash_v2[:40], manifest.sha256.encode())
        for owner, added in manifest.owners.items():
            await self.state.zadd(f"idx:owner:{owner}", manifest.sha256, added)
            await self.state.zadd("idx:owners", owner, added)
        for digest in manifest.blob_hashes():
            await self.state.zadd(f"idx:refs:{digest}", manifest.sha256, 1)

    async def remove_owner(self, sha256: str, owner: str) -> tuple[bool, bool]:
        """Drop ``owner``; returns (was_owner, file_deleted). The file goes with its last owner,
        unless it was also published anonymously: nobody can give up that reference."""
        async with self.lock(sha256):
            manifest = await self.get(sha256)
            if manifest is None or owner not in manifest.owners:
                return False, False
            del manifest.owners[owner]
            if manifest.owners or manifest.anonymous:
                await self.save(manifest)
                await self.state.zrem(f"idx:owner:{owner}", sha256)
                return True, False
            await self.state.zrem(f"idx:owner:{owner}", sha256)
        await self.delete_file(sha256)
        return True, True

    async def delete_file(self, sha256: str) -> Manifest | None:
        """Remove the file: manifest first (so it vanishes at once), then bytes nobody else uses."""
        async with self.lock(sha256):
            manifest = await self.get(sha256)
            if manifest is None:
                return None
            await self.store.delete(manifest_key(sha256))
            self._recent.pop(sha256, None)
            await self.state.zrem("idx:recent", sha256)
            await self.state.hdel("idx:infohash", manifest.infohash)
            if manifest.infohash_v2:
                await self.state.hdel("idx:infohash", manifest.infohash_v2[:40])
            for owner in manifest.owners:
                await self.state.zrem(f"idx:owner:{owner}", sha256)
            for blob in manifest.blob_hashes():
                await self.state.zrem(f"idx:refs:{blob}", sha256)
                if (
                    manifest.data_key is None
                    and await self.state.zcard(f"idx:refs:{blob}") == 0
                    and not await self.store.exists(manifest_key(blob))
                ):
                    await self.store.delete(blob_key(blob))
            if manifest.data_key is not None:
                # A file's data object is its own (same bytes uploaded again reuse the record).
                await self.store.delete(manifest.data_key)
            await self.store.delete(torrent_key(sha256))
            async for key in self.store.list(hls_prefix(sha256)):
                await self.store.delete(key)
        self._fire(self.on_removed, manifest)
        return manifest

    async def recent(self, limit: int = 50, offset: int = 0) -> list[Manifest]:
        entries = await self.state.zrange("idx:recent", offset, offset + limit - 1, desc=True)
        return [m for m in [await self.get(sha) for sha, _ in entries] if m is not None]

    async def owned_by(self, owner: str, limit: int = 50, offset: int = 0) -> list[Manifest]:
        entries = await self.state.zrange(f"idx:owner:{owner}", offset, offset + limit - 1, desc=True)
        return [m for m in [await self.get(sha) for sha, _ in entries] if m is not None]

    async def count_owned(self, owner: str) -> int:
        return await self.state.zcard(f"idx:owner:{owner}")

    async def iter_manifests(self) -> AsyncIterator[Manifest]:
        async for key in self.store.list("manifests/"):
            sha = key.removeprefix("manifests/").removesuffix(".json")
            manifest = await self.get(sha)
            if manifest is not None:
                yield manifest

    async def reindex(self) -> int:
        """Rebuild every index from the manifests; returns the number of files indexed."""
        count = 0
        async for manifest in self.iter_manifests():
            await self._index(manifest)
            count += 1
        return count

    def _fire(self, hooks: list[Hook], manifest: Manifest) -> None:
        for hook in hooks:
            task = asyncio.get_running_loop().create_task(self._run_hook(hook, manifest))
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)

    @staticmethod
    async def _run_hook(hook: Hook, manifest: Manifest) -> None:
        try:
            await hook(manifest)
        except Exception:
            log.exception("catalog hook %s failed for %s", getattr(hook, "__name__", hook), manifest.sha256)

    async def drain_hooks(self) -> None:
        """Wait for running hooks (shutdown, tests)."""
        while self._hook_tasks:
            await asyncio.gather(*list(self._hook_tasks), return_exceptions=True)
