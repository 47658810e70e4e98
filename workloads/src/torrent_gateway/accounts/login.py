"""The login endpoints (``/api/auth/...``): challenges, NIP-07 and NIP-46 logins, the nostrconnect
flow a signer app completes, logout and ``me``. What a login must prove is
:class:`~.authenticator.Authenticator`'s; these routes only parse and answer."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..nostr.keys import npub_of
from ..services import Services
from ..web.deps import parse_json_body
from ..web.urls import base_url
from .authenticator import LOGIN_MAX_BODY, SESSION_COOKIE, WWW_AUTHENTICATE, unauthorized
from .deps import AuthenticatorDep, UserDep

log = logging.getLogger(__name__)


class LoginRequest(BaseModel):
    auth_type: Literal["nip07", "nip46"]
    event: dict[str, Any] | str | None = Field(
        None,
        description="nip07: the signed login event (kind 22242 with a 'relay' tag naming this gateway, "
        "or kind 27235 whose 'u' is this gateway's login URL), as an object or a JSON string",
    )
    auth_event: dict[str, Any] | str | None = Field(
        None, description="nip07: the same as 'event' (the seed gateway's spelling)"
    )
    challenge: str | None = Field(None, description="nip07: the challenge the event must carry (optional)")
    bunker_url: str | None = Field(None, description="nip46: bunker://<signer pubkey>?relay=…&secret=…")

    def signed_event(self) -> Any:
        """The nip07 event, decoded when it came as a JSON string; None when absent."""
        event = self.event if self.event is not None else self.auth_event
        if isinstance(event, str):
            try:
                return json.loads(event)
            except (ValueError, RecursionError):
                raise HTTPException(400, detail="the login event is not valid JSON") from None
        return event


def create_auth_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["auth"])

    @router.get("/challenge")
    async def challenge(request: Request, authenticator: AuthenticatorDep) -> dict[str, Any]:
        """A single-use challenge for a login event bound to this gateway: kind 22242 with tags
        ``["relay", relay]`` and ``["challenge", challenge]``, or kind 27235 (NIP-98) with
        ``["u", login_url]``, ``["method", "POST"]`` and ``["challenge", challenge]``;
        ``created_at`` within ``max_age`` seconds of the server's clock."""
        return await authenticator.new_challenge(authenticator.gateway_url(request))

    @router.post(
        "/login",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": LoginRequest.model_json_schema()}},
            }
        },
    )
    async def login(request: Request, authenticator: AuthenticatorDep) -> JSONResponse:
        """Exchange a signed login event (NIP-07) or a bunker URL (NIP-46) for a session: the token
        in the JSON body and the HttpOnly cookie ``tgw_session``."""
        body: LoginRequest = await parse_json_body(request, LoginRequest, LOGIN_MAX_BODY)
        gateway_url = authenticator.gateway_url(request)
        if body.auth_type == "nip07":
            event = body.signed_event()
            if event is None:
                raise HTTPException(400, detail="nip07 login needs the signed 'event' (or 'auth_event')")
            pubkey = await authenticator.login_with_event(event, body.challenge, gateway_url=gateway_url)
        else:
            if not body.bunker_url:
                raise HTTPException(400, detail="nip46 login needs 'bunker_url'")
            pubkey = await authenticator.login_with_bunker(body.bunker_url, gateway_url=gateway_url)
        session = await authenticator.create_session(pubkey)
        log.info("login of %s (%s)", pubkey, body.auth_type)
        return authenticator.session_response(session)

    @router.post("/nostrconnect", status_code=201)
    async def nostrconnect(request: Request, authenticator: AuthenticatorDep) -> dict[str, Any]:
        """Start a login from a signer app: give it ``uri`` (a ``nostrconnect://`` URI), then poll
        ``GET /api/auth/nostrconnect/<id>`` until the session arrives."""
        return await authenticator.start_nostrconnect(base_url(request, authenticator.settings))

    @router.get(
        "/nostrconnect/{attempt}", responses={202: {"description": "The signer has not answered yet"}}
    )
    async def nostrconnect_status(attempt: str, authenticator: AuthenticatorDep) -> JSONResponse:
        """202 ``{status: pending}`` while the signer has not answered; 200 with the session (once);
        401 when the signer refused or never came; 404 for an unknown, expired or collected id."""
        record = await authenticator.nostrconnect_result(attempt)
        if record is None:
            raise HTTPException(404, detail="unknown or expired nostrconnect login")
        if record["status"] == "pending":
            return JSONResponse({"status": "pending"}, status_code=202)
        if record["status"] == "failed":
            raise unauthorized(record["detail"])
        return authenticator.session_response(record["session"])

    @router.post("/logout")
    async def logout(request: Request, authenticator: AuthenticatorDep) -> JSONResponse:
        """Revoke the session of this request (Bearer token or cookie) and clear the cookie."""
        await authenticator.authenticate(request)
        token = request.state.session_token
        if not token:
            detail = "logout needs a session: 'Authorization: Bearer <token>' or the session cookie"
            if SESSION_COOKIE in request.cookies:
                # A stale cookie: the session is already gone; let the browser forget it too.
                response = JSONResponse({"detail": detail}, status_code=401, headers=WWW_AUTHENTICATE)
                response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
                return response
            raise unauthorized(detail)
        if not await authenticator.revoke(token):
            raise unauthorized("invalid, expired or revoked session token")
        response = JSONResponse({"logged_out": True})
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/me")
    async def me(request: Request, pubkey: UserDep, authenticator: AuthenticatorDep) -> dict[str, Any]:
        """Who the credentials belong to: ``{pubkey, npub, is_admin, expires_at, auth}``."""
        token = request.state.session_token
        session = await authenticator.session(token) if token else None
        return {
            "pubkey": pubkey,
            "npub": npub_of(pubkey),
            "is_admin": await authenticator.is_admin(pubkey),
            "expires_at": session["expires_at"] if session else None,
            "auth": "session" if session else "nip98",
        }

    return router
