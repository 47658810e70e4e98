"""P2P: the DHT node, the seeder, the peer coordinator and their metrics.

Layers: ``options`` (what the settings tree says, plus the keys this package adds), ``session``
(libtorrent sessions, configured explicitly and driven by one alert-pump task each), ``seeder``
(which torrents we seed and where their bytes are), ``seedcache`` (the bounded local copy of
files that cannot be linked), ``coordinator`` and ``geo`` (merging and ranking peers),
``metrics`` (Prometheus) and ``app``, which composes them into the ``install_p2p`` extension and
the standalone ``dht`` component (its scores are the health package's ``dht_score`` and
``seeder_score``).

Importing this package is cheap and does not import libtorrent; ``coordinator``'s pure parts are
usable without it.
"""

from __future__ import annotations

__all__ = ["build_dht_app", "install_coordinator", "install_p2p"]


def __getattr__(name: str) -> object:
    # The composition pulls in libtorrent; load it only when asked for.
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
