"""Object store on S3 or MinIO through the ``minio`` SDK: the shared store of cluster mode.

Atomicity comes from S3 itself: a single PUT or a multipart upload becomes visible only
when it completes, so readers see the old object, the new one, or nothing. An upload
interrupted by an error in the source, a network failure or a cancelled caller aborts its
multipart upload, so no object appears under the key.

The SDK is synchronous; its calls run on a private thread pool sized like the HTTP
connection pool, so parallel range reads each get a thread and a kept-alive connection
(the default asyncio executor has only ``cpu + 4`` threads and is shared with everything
else). urllib3 is set up with short connect timeouts and few retries: an endpoint that is
down fails within a couple of seconds as :class:`StoreUnavailable`, never hangs.

Objects written from memory (chunks, manifests) skip the SDK's ``put_object``: it copies the
buffer and hashes it again to sign the payload, which on the upload path of a large file (the
chunk's SHA-256 is already known: it is the chunk's name) cost more CPU than the rest of the
gateway's own work. They go out as one SigV4-signed PUT (the SDK's signer, path-style URL) whose
``x-amz-content-sha256`` is the caller's digest, with the buffer as the body: S3 checks the bytes
against that digest and refuses the PUT (nothing stored) when they differ.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import urllib3
from minio import Minio
from minio.commonconfig import REPLACE, CopySource
from minio.credentials import Credentials
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import check_bucket_name
from minio.signer import presign_v4, sign_v4_s3
from minio.time import to_amz_date, utcnow

from .base import ObjectInfo, ObjectNotFound, ObjectStore, ObjectUpload, StoreError, StoreUnavailable, settle

if TYPE_CHECKING:
    from ..config import S3Settings

T = TypeVar("T")

STAGING = "staging"
# S3's limit for one PUT; a bigger buffer goes through the SDK's multipart upload.
MAX_SINGLE_PUT = 5 * 1024**3
# An S3 error document is a few hundred bytes; more than this is not one.
MAX_ERROR_BODY = 64 * 1024
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_BODILESS_CODES = {400: "BadRequest", 403: "AccessDenied", 404: "NoSuchKey"}
# S3 error codes that mean "the service is struggling, retry later" rather than "you asked wrong".
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "XMinioServerNotInitialized"}
)
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject"})
# S3 error codes that mean "these credentials will never work here": a configuration error that no
# retry fixes, reported as such (at start-up, by ping) instead of as an unavailable store.
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}
)


class _UploadAborted(Exception):
    """Raised inside the upload thread when the awaiting caller went away."""


def _check_key(key: str) -> str:
    # Same key grammar as the filesystem backend, so a key valid on one backend is valid on all.
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or parts[0] == ".staging":
        raise StoreError(f"invalid object key {key!r}")
    return key


def _split_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """Accept ``host:port`` (the SDK's form) as well as a URL with a scheme."""
    if endpoint.startswith("https://"):
        return endpoint[len("https://") :].rstrip("/"), True
    if endpoint.startswith("http://"):
        return endpoint[len("http://") :].rstrip("/"), False
    return endpoint.rstrip("/"), secure


class _AbortableReader:
    """A file wrapper whose ``read`` fails once ``abort`` is set, so the SDK aborts its multipart upload."""

    def __init__(self, raw: BinaryIO, abort: threading.Event) -> None:
        self._raw = raw
        self._abort = abort

    def read(self, size: int = -1) -> bytes:
        if self._abort.is_set():
            raise _UploadAborted("upload cancelled by the caller")
        return self._raw.read(size)


class S3Store(ObjectStore):
    name = "s3"
    whole_file_objects = True
    # Up to six 2 MiB chunks in flight per download: each GET waits 2-3 ms for MinIO's first byte
    # (about 1 ms of its CPU per request) and a 2 MiB body takes ~1.7 ms at MinIO's single-stream
    # rate, so 3 left gaps whenever the cores were free (bench/bench_s3.py). Memory stays bounded by
    # the reader's shared budget (content.READ_AHEAD_SHARE), not by this number times the streams.
    read_ahead = 6

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = False,
        region: str = "us-east-1",
        cache_dir: str | Path | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 15.0,
        probe_timeout: float = 2.0,
        pool_size: int = 32,
        part_size: int = 0,
        parallel_uploads: int = 3,
        public_endpoint: str = "",
    ) -> None:
        host, secure = _split_endpoint(endpoint, secure)
        if not host:
            raise StoreError("S3 endpoint is empty")
        try:
            check_bucket_name(bucket)
        except ValueError as exc:
            raise StoreError(f"invalid S3 bucket name {bucket!r}") from exc
        self.endpoint = host
        self.bucket = bucket
        self._scheme = "https" if secure else "http"
        self._region = region or "us-east-1"
        self._credentials = Credentials(access_key, secret_key) if access_key and secret_key else None
        self._part_size = part_size
        self._public_url = urlsplit(public_endpoint.rstrip("/")) if public_endpoint else None
        self._parallel_uploads = parallel_uploads
        # One retry for a refused connect or a dropped keep-alive connection, one for a 5xx; nothing
        # long: callers turn StoreUnavailable into 503 and clients retry.
        retries = urllib3.Retry(
            total=3,
            connect=1,
            read=1,
            status=1,
            other=0,
            backoff_factor=0.1,
            status_forcelist=(500, 502, 503, 504),
        )
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=retries,
            maxsize=pool_size,
            block=False,
        )
        self._client = Minio(
            host,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=secure,
            region=region or None,
            http_client=self._http,
        )
        # ping() answers readiness probes: its own client gives up after ``probe_timeout`` even when the
        # endpoint accepts connections but never answers, where the main client's read timeout must
        # leave room for slow multipart completions.
        self._probe_http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=probe_timeout),
            retries=urllib3.Retry(total=1, connect=1, read=0, status=0, other=0),
            maxsize=2,
            block=False,
        )
        self._probe = Minio(
            host,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=secure,
            region=region or None,
            http_client=self._probe_http,
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=pool_size, thread_name_prefix="tgw-s3"
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()
        if cache_dir:
            self._staging = Path(cache_dir).resolve() / STAGING
            self._own_staging_root: Path | None = None
        else:
            root = Path(tempfile.mkdtemp(prefix="tgw-s3-"))
            self._staging = root / STAGING
            self._own_staging_root = root
        self._staging.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: S3Settings) -> S3Store:
        return cls(
            settings.endpoint,
            settings.bucket,
            settings.access_key.get_secret_value(),
            settings.secret_key.get_secret_value(),
            secure=settings.secure,
            region=settings.region,
            cache_dir=settings.cache_dir or None,
            public_endpoint=settings.public_endpoint,
        )

    # -- plumbing --------------------------------------------------------------------------------
    async def _run(self, key: str, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _guarded, key, func, *args)

    def _ensure_bucket_sync(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:
                    # Another replica created it between our check and our create.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._bucket_ready = True

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (called lazily by every operation)."""
        if not self._bucket_ready:
            await self._run("", self._ensure_bucket_sync)

    # -- ObjectStore -----------------------------------------------------------------------------
    def staging_dir(self) -> Path:
        return self._staging

    async def put_file(self, key: str, path: Path) -> None:
        _check_key(key)
        await self.ensure_bucket()
        abort = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, _guarded, key, self._put_file_sync, key, Path(path), abort
        )
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            # The thread cannot be killed: tell it to stop reading (which aborts the multipart upload)
            # and wait for it, so nothing appears under the key after we return.
            abort.set()
            await settle(future)
            raise

    def _put_file_sync(self, key: str, path: Path, abort: threading.Event) -> None:
        try:
            with open(path, "rb") as raw:
                size = os.fstat(raw.fileno()).st_size
                self._client.put_object(
                    self.bucket,
                    key,
                    _AbortableReader(raw, abort),  # type: ignore[arg-type]
                    size,
                    part_size=self._part_size,
                    num_parallel_uploads=self._parallel_uploads,
                )
        finally:
            # The file is consumed whatever happened: a failed upload is retried from the client's side,
            # and staging must not fill up with orphans.
            path.unlink(missing_ok=True)

    async def put_bytes(
        self, key: str, data: bytes | bytearray | memoryview, *, sha256: str | None = None
    ) -> None:
        _check_key(key)
        if sha256 is not None and not _SHA256_HEX.fullmatch(sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        await self.ensure_bucket()
        view = memoryview(data).cast("B")
        await self._run(key, self._put_bytes_sync, key, view, sha256)

    async def put_bytes_deferred(
        self, key: str, data: bytes | bytearray | memoryview, *, sha256: str | None = None
    ) -> None:
        await self.put_bytes(key, data, sha256=sha256)

    async def put_bytes_if_absent(
        self, key: str, data: bytes | bytearray | memoryview, *, sha256: str | None = None
    ) -> bool:
        _check_key(key)
        if sha256 is not None and not _SHA256_HEX.fullmatch(sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        await self.ensure_bucket()
        view = memoryview(data).cast("B")
        return await self._run(key, self._put_bytes_if_absent_sync, key, view, sha256)

    def _put_bytes_sync(self, key: str, view: memoryview, sha256: str | None) -> None:
        if view.nbytes > MAX_SINGLE_PUT:
            self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(view),
                view.nbytes,
                part_size=self._part_size,
                num_parallel_uploads=self._parallel_uploads,
            )
            return
        self._signed_put(key, view, sha256 or hashlib.sha256(view).hexdigest())

    def _put_bytes_if_absent_sync(self, key: str, view: memoryview, sha256: str | None) -> bool:
        # The HEAD and the PUT in one trip to the thread pool, both without the SDK's per-call work:
        # on the upload path of a large file this runs once per chunk.
        response = self._signed_request("HEAD", key)
        try:
            if response.status not in (200, 404):
                raise _error_of(response, key)
        finally:
            _release(response, bodiless=True)
        if response.status == 200:
            return False
        self._put_bytes_sync(key, view, sha256)
        return True

    def _signed_put(self, key: str, view: memoryview, sha256: str) -> None:
        """One PUT of ``view`` whose signed payload hash is ``sha256`` (S3 verifies it)."""
        response = self._signed_request("PUT", key, view, sha256)
        try:
            if response.status != 200:
                raise _error_of(response, key)
        finally:
            _release(response)

    def _signed_request(
        self,
        method: str,
        key: str,
        body: memoryview | None = None,
        sha256: str = EMPTY_SHA256,
        *,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> urllib3.BaseHTTPResponse:
        """A SigV4-signed request on ``key`` (path-style URL); the caller reads and releases the response.

        ``query`` is already encoded, as ``name=value`` pairs (the signer takes it as it is)."""
        url = urlsplit(
            f"{self._scheme}://{self.endpoint}/{self.bucket}/{quote(key, safe='/')}"
            + (f"?{query}" if query else "")
        )
        date = utcnow()
        signed: dict[str, str | list[str] | tuple[str]] = {
            **(headers or {}),
            "Host": self.endpoint,
            "x-amz-content-sha256": sha256,
            "x-amz-date": to_amz_date(date),
        }
        if body is not None:
            signed["Content-Length"] = str(body.nbytes)
            signed["Content-Type"] = "application/octet-stream"
        if self._credentials is not None:
            signed = sign_v4_s3(
                method=method,
                url=url,
                region=self._region,
                headers=signed,
                credentials=self._credentials,
                content_sha256=sha256,
                date=date,
            )
        # urllib3 hands any buffer to sendall as it is (its hints name bytes only): no copy of the body.
        return self._http.request(
            method,
            urlunsplit(url),
            body=body,  # type: ignore[arg-type]
            headers=signed,  # type: ignore[arg-type]
            preload_content=False,
        )

    def begin_upload(self, key: str) -> ObjectUpload:
        _check_key(key)
        return _MultipartUpload(self, key)

    async def abandon_upload(self, key: str, token: str) -> None:
        _check_key(key)
        await self.ensure_bucket()
        await self._run(key, self._abort_multipart_sync, key, token)

    def _abort_multipart_sync(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload; an upload that is gone already (completed or aborted) is fine."""
        response = self._signed_request("DELETE", key, query=f"uploadId={quote(upload_id, safe='')}")
        try:
            if response.status not in (200, 204, 404):
                raise _error_of(response, key)
        finally:
            _release(response)

    async def get_bytes(self, key: str) -> bytes:
        _check_key(key)
        await self.ensure_bucket()
        return await self._run(key, self._get_sync, key, 0, 0)

    async def read_range(self, key: str, offset: int, length: int) -> bytes:
        _check_key(key)
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        await self.ensure_bucket()
        if length == 0:
            # The SDK reads "length 0" as "to the end"; an empty read still reports a missing key.
            if await self.stat(key) is None:
                raise ObjectNotFound(key)
            return b""
        return await self._run(key, self._get_sync, key, offset, length)

    def _get_sync(self, key: str, offset: int, length: int) -> bytes:
        try:
            response = self._client.get_object(self.bucket, key, offset=offset, length=length)
        except S3Error as exc:
            if exc.code == "InvalidRange":
                # The range starts at or past the end of the object: clamp to nothing, like pread.
                return b""
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def iter_range(
        self, key: str, start: int, end: int, block: int
    ) -> AsyncIterator[bytes | memoryview]:
        """One ranged GET for the whole span, its body read in blocks on the pool, the next block
        read while the caller sends the one before.

        The default of the base class is a GET per block: for a 1 GiB object and 1 MiB blocks, a
        thousand requests each paying S3's fixed cost per request. A client that goes away closes
        the connection (its unread body would fail the next request on it).
        """
        _check_key(key)
        if start < 0 or end < start:
            raise ValueError("need 0 <= start <= end")
        await self.ensure_bucket()
        response = await self._run(key, self._open_range, key, start, end)
        if response is None:
            raise OSError(f"{key} ended early at {start}")
        loop = asyncio.get_running_loop()
        position = start
        reading: asyncio.Future[bytes] | None = None
        try:
            reading = loop.run_in_executor(
                self._executor, _guarded, key, response.read, min(block, end - position + 1)
            )
            while reading is not None:
                data = await reading
                reading = None
                if not data:
                    raise OSError(f"{key} ended early at {position}")
                position += len(data)
                if position <= end:
                    reading = loop.run_in_executor(
                        self._executor, _guarded, key, response.read, min(block, end - position + 1)
                    )
                yield data
        finally:
            if reading is not None:
                await settle(reading)
            if position > end:
                _release(response)
            else:
                await asyncio.to_thread(_discard, response)

    def presigned_get(self, key: str, *, expires: int, response_headers: dict[str, str]) -> str | None:
        """A presigned GET at ``public_endpoint`` (None without one, or without credentials to sign).

        S3 answers it with the stored bytes, honouring Range, and with each of ``response_headers``
        (Content-Type, Content-Disposition, Cache-Control: its ``response-*`` overrides, which only
        signed requests may use) in place of what the object was stored with.
        """
        _check_key(key)
        if self._public_url is None or self._credentials is None:
            return None
        query = "&".join(
            f"response-{name.lower()}={quote(value, safe='')}"
            for name, value in sorted(response_headers.items())
        )
        url = self._public_url._replace(path=f"/{self.bucket}/{quote(key, safe='/')}", query=query)
        signed = presign_v4(
            method="GET",
            url=url,
            region=self._region,
            credentials=self._credentials,
            date=utcnow(),
            expires=expires,
        )
        return urlunsplit(signed)

    def _open_range(self, key: str, start: int, end: int) -> urllib3.BaseHTTPResponse | None:
        """A GET of bytes ``start``..``end`` whose body is left to read; None when the object ends
        before ``start`` (S3's 416)."""
        response = self._signed_request("GET", key, headers={"Range": f"bytes={start}-{end}"})
        if response.status in (200, 206):
            return response
        try:
            if response.status == 416:
                return None
            raise _error_of(response, key)
        finally:
            _release(response)

    async def stat(self, key: str) -> ObjectInfo | None:
        _check_key(key)
        await self.ensure_bucket()
        return await self._run(key, self._stat_sync, key)

    def _stat_sync(self, key: str) -> ObjectInfo | None:
        try:
            obj = self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return None
            raise
        modified = obj.last_modified.timestamp() if obj.last_modified else 0.0
        return ObjectInfo(key=key, size=int(obj.size or 0), modified=modified)

    async def delete(self, key: str) -> bool:
        _check_key(key)
        await self.ensure_bucket()
        return await self._run(key, self._delete_sync, key)

    def _delete_sync(self, key: str) -> bool:
        # S3 DELETE succeeds on missing keys; the HEAD first tells the caller whether anything was there.
        existed = self._stat_sync(key) is not None
        if existed:
            self._client.remove_object(self.bucket, key)
        return existed

    async def touch(self, key: str) -> None:
        _check_key(key)
        await self.ensure_bucket()
        with contextlib.suppress(ObjectNotFound):
            await self._run(key, self._touch_sync, key)

    def _touch_sync(self, key: str) -> None:
        # S3 cannot set a modification time. A server-side copy of the object onto itself (S3 demands
        # REPLACE for that) rewrites it atomically with a fresh Last-Modified; no bytes cross the wire.
        # Keys here are content-addressed, so a copy racing an overwrite writes the same bytes.
        self._client.copy_object(self.bucket, key, CopySource(self.bucket, key), metadata_directive=REPLACE)

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        await self.ensure_bucket()
        keys = await self._run(prefix, self._list_sync, prefix)
        for key in keys:
            yield key

    def _list_sync(self, prefix: str) -> Sequence[str]:
        objects = self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
        # S3 already lists in UTF-8 byte order, which equals str order; sorting keeps the contract
        # even on S3-compatible servers that do not.
        return sorted(str(obj.object_name) for obj in objects if obj.object_name and not obj.is_dir)

    async def ping(self) -> None:
        """A HEAD on the bucket: proves the endpoint answers and accepts our credentials.

        Raises StoreUnavailable when the endpoint cannot be reached or struggles (it may come back),
        and StoreError naming the settings to check when it refuses the credentials (it will not).
        A missing bucket is created (first start).
        """
        try:
            if not await self._run("", self._probe.bucket_exists, self.bucket):
                self._bucket_ready = False
                await self.ensure_bucket()
        except StoreUnavailable:
            raise
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, S3Error) and cause.code in _CREDENTIAL_CODES:
                raise StoreError(
                    f"S3 at {self.endpoint} refuses our credentials for bucket {self.bucket!r} ({cause.code}): "
                    "check storage.s3.access_key and storage.s3.secret_key, and that this key may use the bucket"
                ) from cause
            raise StoreUnavailable(str(exc)) from exc

    async def cleanup_staging(self, older_than: float = 0) -> int:
        return await asyncio.to_thread(_empty_dir, self._staging, older_than)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._http.clear()
        self._probe_http.clear()
        if self._own_staging_root is not None:
            shutil.rmtree(self._own_staging_root, ignore_errors=True)


class _MultipartUpload(ObjectUpload):
    """An S3 multipart upload driven with our own signed requests (not the SDK's: it wants a stream
    to read, where the ingest has the parts in memory already).

    A part goes out as one PUT whose payload is not hashed again (``UNSIGNED-PAYLOAD``): the ingest
    has hashed every chunk in it, the manifest names those hashes, and the seeder checks them when
    it reads the file back. Parts in flight are awaited before an abort, so a part that lands after
    the abort cannot leave the upload behind.
    """

    def __init__(self, store: S3Store, key: str) -> None:
        super().__init__(key)
        self._store = store
        self._upload_id: str | None = None
        self._starting: asyncio.Future[str] | None = None
        self._etags: dict[int, str] = {}
        self._closed = False  # no more parts
        self._completed = False
        self._aborted = False

    async def start(self) -> str | None:
        return await self._id()

    async def _id(self) -> str:
        if self._starting is None:
            # Set before the first await: parts written side by side share one upload.
            self._starting = asyncio.ensure_future(self._create())
        self._upload_id = await asyncio.shield(self._starting)
        return self._upload_id

    async def _create(self) -> str:
        await self._store.ensure_bucket()
        return await self._store._run(self.key, self._create_sync)

    def _create_sync(self) -> str:
        response = self._store._signed_request("POST", self.key, query="uploads=")
        try:
            if response.status != 200:
                raise _error_of(response, self.key)
            document = ElementTree.fromstring(response.read(MAX_ERROR_BODY))
        finally:
            _release(response)
        upload_id = next((e.text for e in document.iter() if e.tag.endswith("UploadId")), None)
        if not upload_id:
            raise InvalidResponseError(response.status, response.headers.get("content-type"), None)
        return upload_id

    def _query(self, upload_id: str, number: int | None = None) -> str:
        ident = f"uploadId={quote(upload_id, safe='')}"
        return f"partNumber={number}&{ident}" if number is not None else ident

    async def write_part(self, number: int, offset: int, data: memoryview) -> None:
        if self._closed:
            raise StoreError(f"upload of {self.key} is closed")
        if not 1 <= number <= 10000:
            raise StoreError(f"part number {number} is outside S3's 1..10000")
        upload_id = await self._id()
        view = memoryview(data).cast("B")
        await self._write(self._store._run(self.key, self._put_part_sync, upload_id, number, view))

    def _put_part_sync(self, upload_id: str, number: int, view: memoryview) -> None:
        response = self._store._signed_request(
            "PUT", self.key, view, "UNSIGNED-PAYLOAD", query=self._query(upload_id, number)
        )
        try:
            if response.status != 200:
                raise _error_of(response, self.key)
            etag = response.headers.get("etag")
        finally:
            _release(response)
        if not etag:
            raise InvalidResponseError(response.status, response.headers.get("content-type"), None)
        self._etags[number] = etag

    async def complete(self) -> None:
        if self._closed:
            raise StoreError(f"upload of {self.key} is closed")
        if self._failed:
            raise StoreError(f"upload of {self.key} lost a part")
        upload_id = await self._id()
        numbers = sorted(self._etags)
        if not numbers or numbers != list(range(1, len(numbers) + 1)):
            raise StoreError(f"upload of {self.key} is missing parts")
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(self._etags[n])}</ETag></Part>" for n in numbers
        )
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        await self._store._run(self.key, self._complete_sync, upload_id, body)
        self._closed = self._completed = True

    def _complete_sync(self, upload_id: str, body: bytes) -> None:
        response = self._store._signed_request(
            "POST", self.key, memoryview(body), hashlib.sha256(body).hexdigest(), query=self._query(upload_id)
        )
        try:
            # S3 may answer 200 and still fail the completion in the document it streams afterwards.
            text = response.read(MAX_ERROR_BODY) if response.status == 200 else b""
            if response.status != 200 or b"<Error>" in text:
                raise (
                    _error_of(response, self.key)
                    if response.status != 200
                    else StoreUnavailable(f"S3 failed to complete {self.key}: {text[:200]!r}")
                )
        finally:
            _release(response)

    async def abort(self) -> None:
        if self._completed or self._aborted:
            return
        self._closed = True
        await self._parts_settled()
        if self._starting is None:
            return
        await settle(self._starting)
        if self._starting.cancelled() or self._starting.exception() is not None:
            return
        # Marked only once S3 has taken it: an abort refused during an outage can be repeated.
        await self._store._run(self.key, self._abort_sync, self._starting.result())
        self._aborted = True

    def _abort_sync(self, upload_id: str) -> None:
        self._store._abort_multipart_sync(self.key, upload_id)


def _release(response: urllib3.BaseHTTPResponse, *, bodiless: bool = False) -> None:
    """Hand the connection back for reuse once the response is read to its end (a success or a HEAD
    has no body), or close it: an error body is read only in part, and a connection with unread
    bytes would fail the next request on it (which urllib3 then retries: a PUT's body sent twice)."""
    if bodiless or response.status < 300:
        response.drain_conn()
    else:
        response.close()
    response.release_conn()


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close a response whose body is left unread, so its connection is never reused."""
    response.close()
    response.release_conn()


def _error_of(response: urllib3.BaseHTTPResponse, key: str) -> Exception:
    """The SDK's exception for a failed request of ours, from S3's XML error document (read capped)."""
    body = response.read(MAX_ERROR_BODY + 1)
    code = message = request_id = None
    if body and len(body) <= MAX_ERROR_BODY:
        with contextlib.suppress(ElementTree.ParseError):
            document = ElementTree.fromstring(body)
            code, message = document.findtext("Code"), document.findtext("Message")
            request_id = document.findtext("RequestId")
    if not code:
        # A HEAD's answer has no document: its status says it, as the SDK reads it.
        code = _BODILESS_CODES.get(response.status)
        request_id = response.headers.get("x-amz-request-id")
    if code:
        return S3Error(response, code, message, key, request_id, None, object_name=key)
    if response.status >= 500:
        return ServerError(f"server failed with HTTP status code {response.status}", response.status)
    return InvalidResponseError(response.status, response.headers.get("content-type"), None)


def _guarded(key: str, func: Callable[..., T], *args: Any) -> T:
    """Run one SDK call, translating its failures into the store's exceptions."""
    try:
        return func(*args)
    except S3Error as exc:
        if exc.code in _MISSING_CODES:
            raise ObjectNotFound(key) from None
        if exc.code in _TRANSIENT_CODES:
            raise StoreUnavailable(f"S3 is unavailable: {exc.code}") from exc
        raise StoreError(f"S3 error {exc.code}: {exc.message}") from exc
    except (ServerError, InvalidResponseError) as exc:
        # 5xx or a non-S3 answer (typically a proxy in front of a dead backend).
        raise StoreUnavailable(f"S3 is unavailable: {exc}") from exc
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise StoreUnavailable(f"S3 endpoint unreachable: {type(exc).__name__}") from exc
    except MinioException as exc:
        raise StoreError(f"S3 client error: {exc}") from exc


def _empty_dir(directory: Path, older_than: float) -> int:
    removed = 0
    if not directory.is_dir():
        return removed
    now = time.time()
    for entry in directory.iterdir():
        try:
            # A young file may belong to an upload still in progress.
            if older_than and now - entry.lstat().st_mtime < older_than:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
