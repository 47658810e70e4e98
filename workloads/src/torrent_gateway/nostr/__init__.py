"""Nostr: the server's key, event verification (NIP-01, NIP-98, shared with Blossom's BUD-11),
relay publishing, NIP-46 remote signing, and file announcements (NIP-94, NIP-35).

``install_nostr(services)`` plugs it into a process: it registers, in ``services.extras``,

* ``"server_keys"``   — :class:`~.keys.ServerKeys`, the server's identity;
* ``"authenticator"`` — :class:`torrent_gateway.gateway.auth.Authenticator` (``authenticate(request)``,
  ``is_admin(pubkey)``, sessions, bans);
* ``"nostr_announcer"`` — :class:`~.announce.Announcer`, whose hooks are appended to the catalog's
  ``on_added``/``on_removed`` (and its ``on_startup``, publishing the server key's profile and
  relay lists, to the ``"startup"`` hooks) when ``nostr.publish`` is on and relays are configured;
* ``"nostr_dm"`` — an async ``(pubkey_hex, text)`` sending a NIP-17 private message (see
  :mod:`.dm`), when ``monitoring.alert_nostr_dm`` is on and relays are configured: the health
  monitor's alerts reach the admins with it.

``gateway_extension(app, services)`` does that and adds the auth, users and admin routers: pass it
to ``create_app(settings, extensions=[gateway_extension])``. Importing this package stays cheap
(the gateway parts are imported on use), so Blossom can import :mod:`.events` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .events import InvalidEvent, verify_event

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..services import Services
    from .relays import RelayPublisher

__all__ = ["InvalidEvent", "gateway_extension", "install_nostr", "verify_event"]


def install_nostr(
    services: Services,
    *,
    publisher: RelayPublisher | None = None,
    backoff: Sequence[float] | None = None,
    **authenticator_options: Any,
) -> None:
    """Register the authenticator, the server key, and (with relays configured) the announcer
    when publishing and the alert DM sender when ``monitoring.alert_nostr_dm`` is on."""
    from ..gateway.auth import Authenticator
    from .announce import Announcer
    from .dm import dm_sender
    from .keys import load_server_keys
    from .relays import DEFAULT_BACKOFF, RelayPublisher

    settings = services.settings
    keys = load_server_keys(settings)
    services.extras["server_keys"] = keys
    services.extras["authenticator"] = Authenticator(services, **authenticator_options)
    if publisher is None and settings.nostr.relays:
        publisher = RelayPublisher(
            settings.nostr.relays,
            backoff=DEFAULT_BACKOFF if backoff is None else backoff,
            auth_signer=keys.relay_auth,
        )
    if settings.monitoring.alert_nostr_dm and publisher is not None:
        services.extras["nostr_dm"] = dm_sender(keys, publisher)
    if settings.nostr.publish and settings.nostr.relays and publisher is not None:
        announcer = Announcer(services, keys, publisher)
        services.extras["nostr_announcer"] = announcer
        services.catalog.on_added.append(announcer.on_added)
        services.catalog.on_removed.append(announcer.on_removed)
        services.extras.setdefault("startup", []).append(announcer.on_startup)


def gateway_extension(app: FastAPI, services: Services) -> None:
    """A ``create_app`` extension: install_nostr plus the auth, users and admin routers."""
    from ..gateway.admin import create_admin_router
    from ..gateway.auth import create_auth_router
    from ..gateway.users import create_users_router

    if "authenticator" not in services.extras:
        install_nostr(services)
    app.include_router(create_auth_router(services))
    app.include_router(create_users_router(services))
    app.include_router(create_admin_router(services))
