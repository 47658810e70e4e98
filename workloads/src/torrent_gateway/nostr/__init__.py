"""Nostr: the server's key, event verification (NIP-01, NIP-98, shared with Blossom's BUD-11),
relay publishing, NIP-46 remote signing, and file announcements (NIP-94, NIP-35).

``install_nostr(services)`` plugs the server's Nostr identity into a process:

* ``services.server_identity`` — :class:`~.keys.ServerKeys`, the server's key;
* ``services.alert_dm`` — an async ``(pubkey_hex, text)`` sending a NIP-17 private message (see
  :mod:`.dm`), when ``monitoring.alert_nostr_dm`` is on and relays are configured: the health
  monitor's alerts reach the admins with it;
* an :class:`~.announce.Announcer` whose hooks are appended to the catalog's ``on_added`` /
  ``on_removed`` (and whose ``on_startup``, publishing the server key's profile and relay lists,
  is a start step of the supervisor) when ``nostr.publish`` is on and relays are configured.

Logins (which verify events with this package) are the accounts package's.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..services import Services
from .announce import Announcer
from .dm import dm_sender
from .events import InvalidEvent, verify_event
from .keys import load_server_keys
from .relays import DEFAULT_BACKOFF, RelayPublisher

__all__ = ["InvalidEvent", "install_nostr", "verify_event"]


def install_nostr(
    services: Services,
    *,
    publisher: RelayPublisher | None = None,
    backoff: Sequence[float] | None = None,
) -> Announcer | None:
    """Set the server identity, and (with relays configured) the alert DM sender when
    ``monitoring.alert_nostr_dm`` is on and the announcer when publishing; returns the announcer."""
    settings = services.settings
    keys = load_server_keys(settings)
    services.server_identity = keys
    if publisher is None and settings.nostr.relays:
        publisher = RelayPublisher(
            settings.nostr.relays,
            backoff=DEFAULT_BACKOFF if backoff is None else backoff,
            auth_signer=keys.relay_auth,
        )
    if settings.monitoring.alert_nostr_dm and publisher is not None:
        services.alert_dm = dm_sender(keys, publisher)
    if not (settings.nostr.publish and settings.nostr.relays and publisher is not None):
        return None
    announcer = Announcer(services, keys, publisher)
    services.catalog.on_added.append(announcer.on_added)
    services.catalog.on_removed.append(announcer.on_removed)
    services.supervisor.on_start(announcer.on_startup)
    return announcer
