"""Blossom (BUD-01/02/04/06/08/09/11/12): Nostr clients store and fetch blobs on the shared store.

Blobs are the gateway's own files: a Blossom upload goes through the same ingest pipeline as
``/api/upload`` and shows up there, and any stored file — or any chunk of a large one — is a
Blossom blob. The package is layered: pure rules (``auth``, ``rules``, ``descriptors``,
``listing``'s search) under thin HTTP edges (``routes``, ``mirror``, ``reports``, ``app``).

``create_blossom_router(services)`` gives the endpoints to mount at the root of an app;
``create_blossom_app(settings)`` is the standalone component (``torrent-gateway blossom``).
"""

from __future__ import annotations

from .app import create_blossom_app, create_blossom_router

__all__ = ["create_blossom_app", "create_blossom_router"]
