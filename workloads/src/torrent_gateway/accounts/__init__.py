"""Accounts: who may do what. Nostr logins and sessions (:mod:`.authenticator`, :mod:`.login`), a user's own files and
usage (:mod:`.users`), and the admin's moderation: bans, blocks, reports, the audit log
(:mod:`.admin`). Every record lives in the state store, so every replica agrees and a restart
forgets nothing.

Who is calling is :mod:`.authenticator`'s (sessions, NIP-98, bans, admin rights); the login
endpoints are :mod:`.login`'s. ``install_accounts(services)`` sets ``services.authenticator`` (which the gateway's file routes,
Blossom and the monitoring endpoints ask who is calling); ``accounts_extension`` is the
gateway's extension that does so when needed and mounts the auth, users and admin routers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..services import Services
from .admin import create_admin_router
from .authenticator import Authenticator
from .login import create_auth_router
from .users import create_users_router

__all__ = ["Authenticator", "accounts_extension", "install_accounts"]


def install_accounts(services: Services, **authenticator_options: Any) -> Authenticator:
    """Set ``services.authenticator``; the options are :class:`Authenticator`'s (clock, timeouts)."""
    authenticator = Authenticator(services, **authenticator_options)
    services.authenticator = authenticator
    return authenticator


def accounts_extension(app: FastAPI, services: Services) -> None:
    """A ``create_app`` extension: the authenticator (unless one is set) and the auth, users and
    admin routers."""
    if services.authenticator is None:
        install_accounts(services)
    app.include_router(create_auth_router(services))
    app.include_router(create_users_router(services))
    app.include_router(create_admin_router(services))
