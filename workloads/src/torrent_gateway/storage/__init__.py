"""Object stores: where blobs, chunks, manifests, torrents and HLS segments live.

``open_store(settings)`` picks the backend named in ``storage.backend``.
"""

from __future__ import annotations

from ..config import StorageSettings
from .base import ObjectInfo, ObjectNotFound, ObjectStore, ObjectUpload, StoreError, StoreUnavailable

__all__ = [
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectUpload",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]


def open_store(settings: StorageSettings) -> ObjectStore:
    if settings.backend == "s3":
        from .s3 import S3Store

        return S3Store.from_settings(settings.s3)
    from .filesystem import FilesystemStore

    return FilesystemStore(settings.path, fsync=settings.fsync)
