"""Torrent Gateway: upload a file once, get it over HTTP ranges, Blossom, BitTorrent, HLS and Nostr.

Packages: ``config`` (settings), ``storage`` (object stores), ``state`` (state stores), ``ingest``
(upload pipeline and torrent building), ``gateway`` (REST API, WebSeed, web UI), and one package per
protocol component; ``services`` is where they meet.
"""

__version__ = "0.1.0"
