"""Request dependencies of the accounts: the process's authenticator and the caller's pubkey."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ..services import Services
from .authenticator import Authenticator, unauthorized


def authenticator_of(services: Services) -> Authenticator:
    """The process's authenticator; 503 when accounts are not installed in it."""
    authenticator = services.authenticator
    if not isinstance(authenticator, Authenticator):
        raise HTTPException(503, detail="Nostr authentication is not configured")
    return authenticator


def get_authenticator(request: Request) -> Authenticator:
    return authenticator_of(request.app.state.services)


AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]


async def require_pubkey(request: Request, authenticator: AuthenticatorDep) -> str:
    """The caller's pubkey; 401 when the request carries no credentials."""
    pubkey = await authenticator.authenticate(request)
    if pubkey is None:
        raise unauthorized("authentication required: log in, or sign the request with NIP-98")
    return pubkey


UserDep = Annotated[str, Depends(require_pubkey)]
