"""The upload pipeline's batching: whatever sizes the body arrives in, the file, its chunks and its
piece hashes come out exactly as a direct computation over the same bytes says."""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path

import pytest
from torrent_gateway.bencode import bdecode
from torrent_gateway.ingest import pipeline
from torrent_gateway.manifest import blob_key, torrent_key
from torrent_gateway.services import build_services

from tests.support.gateway import gateway_settings

CHUNK = 16 * 1024


def pieces_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def ingest(tmp_path: Path, data: bytes, sizes: random.Random, declared: int | None) -> str:
    services = build_services(
        gateway_settings(tmp_path / "data", storage={"chunk_size": CHUNK, "blob_threshold": 5 * CHUNK})
    )
    session = services.ingestor.begin("f.bin", "application/octet-stream", declared)
    offset = 0
    while offset < len(data):
        step = sizes.choice([1, 7, 1000, CHUNK - 1, CHUNK, 3 * CHUNK + 5, 40_000])
        await session.feed(memoryview(data)[offset : offset + step])
        offset += step
    manifest, created = await session.finish()
    assert created
    assert manifest.sha256 == hashlib.sha256(data).hexdigest()
    assert manifest.size == len(data)
    info = bdecode(await services.store.get_bytes(torrent_key(manifest.sha256)))[b"info"]
    assert info[b"pieces"] == b"".join(hashlib.sha1(p).digest() for p in pieces_of(data, CHUNK))
    if manifest.kind == "chunked":
        assert manifest.chunks == [hashlib.sha256(p).hexdigest() for p in pieces_of(data, CHUNK)]
        stored = b"".join([await services.store.get_bytes(blob_key(c)) for c in manifest.chunks])
    else:
        stored = await services.store.get_bytes(blob_key(manifest.sha256))
    assert stored == data
    # Nothing left behind in staging.
    assert not any(services.store.staging_dir().iterdir())
    await services.close()
    return manifest.kind


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("size", [1, CHUNK - 1, 4 * CHUNK, 5 * CHUNK, 16 * CHUNK + 3, 41 * CHUNK + 17])
def test_any_piece_sizes_give_exact_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, declared: bool
) -> None:
    # Batches of 4 chunks: a file of a few hundred KiB crosses many batches and reuses buffers.
    monkeypatch.setattr(pipeline, "TARGET_BATCH", 4 * CHUNK)
    rng = random.Random(size)
    data = rng.randbytes(size)
    kind = asyncio.run(ingest(tmp_path, data, rng, size if declared else None))
    assert kind == ("chunked" if size >= 5 * CHUNK else "blob")


def test_repeated_chunks_are_stored_once_and_read_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks are written side by side, also across batches: a chunk that repeats inside one batch
    # and in later ones is written once, and the file still reads back in order.
    monkeypatch.setattr(pipeline, "TARGET_BATCH", 4 * CHUNK)
    rng = random.Random(7)
    same, other = rng.randbytes(CHUNK), rng.randbytes(CHUNK)
    data = same * 3 + other + same * 5 + other * 2 + b"tail"
    kind = asyncio.run(ingest(tmp_path, data, rng, len(data)))
    assert kind == "chunked"

    async def stored_chunks() -> list[str]:
        services = build_services(gateway_settings(tmp_path / "data"))
        keys = [key async for key in services.store.list("blobs/")]
        await services.close()
        return keys

    unique = {hashlib.sha256(piece).hexdigest() for piece in pieces_of(data, CHUNK)}
    assert len(unique) == 3
    assert sorted(asyncio.run(stored_chunks())) == sorted(blob_key(digest) for digest in unique)


def test_an_aborted_upload_removes_only_the_chunks_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A chunk already in the store (here an unreferenced one, as a Blossom blob or a crashed
    # upload leaves) is found by put_bytes_if_absent and only touched: the abort leaves it. The
    # chunks the session wrote itself go with it.
    monkeypatch.setattr(pipeline, "TARGET_BATCH", 4 * CHUNK)
    rng = random.Random(11)
    before, new = rng.randbytes(CHUNK), rng.randbytes(3 * CHUNK)

    async def scenario() -> list[str]:
        services = build_services(
            gateway_settings(tmp_path / "data", storage={"chunk_size": CHUNK, "blob_threshold": 2 * CHUNK})
        )
        digest = hashlib.sha256(before).hexdigest()
        await services.store.put_bytes(blob_key(digest), before)
        data = before + new + before
        session = services.ingestor.begin("f.bin", None, len(data))
        await session.feed(data)
        await session._drain_batches()  # every chunk written, nothing published
        assert {key async for key in services.store.list("blobs/")} == {
            blob_key(hashlib.sha256(piece).hexdigest()) for piece in pieces_of(data, CHUNK)
        }
        await session.abort()
        keys = [key async for key in services.store.list("blobs/")]
        assert not services.ingestor.inflight_chunks
        await services.close()
        return keys

    assert asyncio.run(scenario()) == [blob_key(hashlib.sha256(before).hexdigest())]
