"""Who is calling: Nostr login (NIP-07 event or NIP-46 remote signer, by the user's
``bunker://`` URI or by ours, ``nostrconnect://``, given to a signer app) into opaque session
tokens, NIP-98 signed requests as a session-less alternative, bans, and admin rights.

State keys (all in the state store, so every replica agrees):

* ``auth:challenge:<c>``            single-use login challenge, TTL ``auth.challenge_ttl``
* ``auth:session:<sha256(token)>``  session JSON ``{pubkey, created, expires_at}``, TTL ``auth.session_ttl``
  (only a hash of the token is stored: a leaked state dump holds no usable token)
* ``auth:sessions:<pubkey>``        sorted set of that pubkey's session hashes (revoke all at ban)
* ``auth:nip98:<event id>``         a NIP-98 event already used (replay guard), TTL 2 × 60 s
* ``auth:nostrconnect:<id>``        a nostrconnect login: ``{status: pending}``, then ``{status: ok,
  session}`` (handed out once, to whoever holds the unguessable id) or ``{status: failed, detail}``
* ``ban:<pubkey>``                  ban record JSON ``{reason, by, at}``
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..nostr.events import InvalidEvent, decode_auth_header, tag_value, verify_event
from ..nostr.nip46 import BunkerURI, Nip46Client, Nip46Error, parse_bunker_url
from ..nostr.nip98 import MAX_SKEW_SECONDS, payload_tag, verify_http_auth
from .urls import base_url

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

LOGIN_KIND = 22242
MAX_NOSTRCONNECT_WAITS = 100  # per process: each holds a relay connection for up to challenge_ttl
NOSTRCONNECT_RESULT_TTL = 120  # seconds a finished nostrconnect login waits to be collected
MAX_TOKEN_CHARS = 256
# NIP-98 ``payload`` tags are checked here for bodies up to this size; a larger body is left
# unread (uploads stream it) and its expected hash is put on ``request.state.nip98_payload``.
NIP98_MAX_BODY = 8 * 1024 * 1024
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="torrent-gateway", Nostr'}


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers=WWW_AUTHENTICATE)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Sessions, challenges, bans and request authentication; registered as
    ``services.extras["authenticator"]``."""

    def __init__(
        self,
        services: Services,
        *,
        clock: Callable[[], float] = time.time,
        nip46_timeout: float = 30.0,
        nostrconnect_wait: float | None = None,
        allow_private_relays: bool | None = None,
    ) -> None:
        self.services = services
        self.state = services.state
        self.settings = services.settings
        self.clock = clock
        self.nip46_timeout = nip46_timeout
        # How long a nostrconnect login waits for the signer app (default: auth.challenge_ttl).
        self.nostrconnect_wait = nostrconnect_wait or float(self.settings.auth.challenge_ttl)
        # A bunker URL is user input that makes us open a websocket: refuse private addresses
        # unless configured (tests and private deployments run their relay on loopback).
        if allow_private_relays is None:
            allow_private_relays = self.settings.auth.nip46_allow_private_relays
        self.allow_private_relays = allow_private_relays
        self._nostrconnect_waits: set[asyncio.Task[None]] = set()

    # -- rights -------------------------------------------------------------------------------
    async def is_admin(self, pubkey: str | None) -> bool:
        return bool(pubkey) and pubkey in self.settings.auth.admin_pubkeys

    async def ban_record(self, pubkey: str) -> dict[str, Any] | None:
        raw = await self.state.get(f"ban:{pubkey}")
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            record = {"reason": raw.decode("utf-8", "replace")}
        return record if isinstance(record, dict) else {"reason": str(record)}

    async def is_banned(self, pubkey: str) -> bool:
        return await self.state.get(f"ban:{pubkey}") is not None

    async def _refuse_banned(self, pubkey: str) -> None:
        if await self.is_banned(pubkey):
            raise HTTPException(403, detail="this pubkey is banned from this gateway")

    # -- challenges ---------------------------------------------------------------------------
    async def new_challenge(self) -> dict[str, Any]:
        challenge = secrets.token_urlsafe(32)
        ttl = self.settings.auth.challenge_ttl
        await self.state.set(f"auth:challenge:{challenge}", b"1", ttl)
        return {"challenge": challenge, "expires_at": int(self.clock() + ttl), "kind": LOGIN_KIND}

    async def consume_challenge(self, challenge: str) -> bool:
        if not challenge or len(challenge) > 128:
            return False
        return await self.state.take(f"auth:challenge:{challenge}") is not None

    # -- sessions -----------------------------------------------------------------------------
    async def create_session(self, pubkey: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        digest = _token_digest(token)
        now = self.clock()
        ttl = self.settings.auth.session_ttl
        expires_at = int(now + ttl)
        record = {"pubkey": pubkey, "created": now, "expires_at": expires_at}
        await self.state.set(f"auth:session:{digest}", json.dumps(record).encode(), ttl)
        index = f"auth:sessions:{pubkey}"
        for old, expiry in await self.state.zrange(index):
            if expiry <= now:
                await self.state.zrem(index, old)
        await self.state.zadd(index, digest, expires_at)
        return {
            "token": token,
            "pubkey": pubkey,
            "expires_at": expires_at,
            "is_admin": await self.is_admin(pubkey),
        }

    async def session(self, token: str) -> dict[str, Any] | None:
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        raw = await self.state.get(f"auth:session:{_token_digest(token)}")
        if raw is None:
            return None
        record = json.loads(raw)
        return record if isinstance(record, dict) else None

    async def revoke(self, token: str) -> bool:
        digest = _token_digest(token)
        record = await self.session(token)
        removed = await self.state.delete(f"auth:session:{digest}")
        if record:
            await self.state.zrem(f"auth:sessions:{record['pubkey']}", digest)
        return removed > 0

    async def revoke_all(self, pubkey: str) -> int:
        index = f"auth:sessions:{pubkey}"
        digests = [digest for digest, _ in await self.state.zrange(index)]
        removed = await self.state.delete(*(f"auth:session:{d}" for d in digests)) if digests else 0
        await self.state.delete(index)
        return removed

    # -- login --------------------------------------------------------------------------------
    async def login_with_event(self, event: Any, expected_challenge: str | None = None) -> str:
        """NIP-07 login: a kind 22242 event signed by the user carrying an issued challenge."""
        try:
            verify_event(event, kinds={LOGIN_KIND})
        except InvalidEvent as exc:
            raise unauthorized(exc.reason) from None
        challenge = tag_value(event, "challenge")
        if not challenge:
            raise unauthorized("login event has no 'challenge' tag")
        if expected_challenge is not None and challenge != expected_challenge:
            raise unauthorized("login event is signed for another challenge")
        # Banned keys are refused before the challenge is spent: nothing changes for them.
        await self._refuse_banned(event["pubkey"])
        if not await self.consume_challenge(challenge):
            raise unauthorized("unknown, expired or already used challenge: get a new one")
        return str(event["pubkey"])

    async def login_with_bunker(self, bunker_url: str) -> str:
        """NIP-46 login: connect to the user's signer, learn the user key, have it sign a challenge."""
        try:
            uri: BunkerURI = parse_bunker_url(bunker_url)
        except Nip46Error as exc:
            raise HTTPException(400, detail=str(exc)) from None
        try:
            async with Nip46Client(
                uri, timeout=self.nip46_timeout, allow_private_relays=self.allow_private_relays
            ) as client:
                await client.connect()
                return await self._sign_in_with(client)
        except Nip46Error as exc:
            raise unauthorized(f"remote signer login failed: {exc}") from None

    async def _sign_in_with(self, client: Nip46Client) -> str:
        """Have a connected remote signer sign a fresh login challenge; returns the user's pubkey."""
        issued = await self.new_challenge()
        try:
            pubkey = await client.get_public_key()
            await self._refuse_banned(pubkey)
            event = await client.sign_event(
                {
                    "kind": LOGIN_KIND,
                    "content": "",
                    "tags": [["challenge", issued["challenge"]]],
                    "created_at": int(self.clock()),
                }
            )
        except (Nip46Error, HTTPException):
            await self.consume_challenge(issued["challenge"])
            raise
        return await self.login_with_event(event, issued["challenge"])

    # -- nostrconnect:// ------------------------------------------------------------------------
    def nostrconnect_relays(self) -> list[str]:
        return self.settings.auth.nostrconnect_relays or self.settings.nostr.relays

    async def start_nostrconnect(self, app_url: str) -> dict[str, Any]:
        """Begin a client-initiated NIP-46 login: our URI for the user's signer app, and an id to poll.

        A background task listens on our relays for the signer (``nostrconnect_wait`` seconds),
        then has it sign a login challenge like a bunker login, and leaves the session (or why
        it failed) under the id. The relays are ours (configuration), not user input.
        """
        relays = self.nostrconnect_relays()
        if not relays:
            # Not offered by this configuration: a client's question, not a server fault.
            raise HTTPException(
                404,
                detail="nostrconnect login is not offered here: no relays are configured "
                "(auth.nostrconnect_relays or nostr.relays)",
            )
        if len(self._nostrconnect_waits) >= MAX_NOSTRCONNECT_WAITS:
            raise HTTPException(429, detail="too many nostrconnect logins waiting; try again shortly")
        attempt = secrets.token_urlsafe(24)
        ttl = self.nostrconnect_wait
        uri = BunkerURI(signer_pubkey="", relays=relays[:3], secret=secrets.token_urlsafe(16))
        client = Nip46Client(uri, timeout=self.nip46_timeout, allow_private_relays=True)
        await self.state.set(
            f"auth:nostrconnect:{attempt}", json.dumps({"status": "pending"}).encode(), ttl + 60
        )
        task = self.services.spawn(self._await_nostrconnect(attempt, client, ttl), name="nostrconnect")
        self._nostrconnect_waits.add(task)
        task.add_done_callback(self._nostrconnect_waits.discard)
        link = client.nostrconnect_uri(
            self.settings.nostr.profile_name, url=app_url, perms=f"sign_event:{LOGIN_KIND}"
        )
        return {
            "id": attempt,
            "uri": link,
            # For a signer app on a phone to scan off the screen.
            "qr": segno.make(link, error="m").svg_data_uri(scale=4, border=2),
            "expires_at": int(self.clock() + ttl),
        }

    async def _await_nostrconnect(self, attempt: str, client: Nip46Client, within: float) -> None:
        key = f"auth:nostrconnect:{attempt}"
        try:
            async with client:
                await client.wait_for_signer(within)
                pubkey = await self._sign_in_with(client)
            record: dict[str, Any] = {"status": "ok", "session": await self.create_session(pubkey)}
            log.info("login of %s (nip46 nostrconnect)", pubkey)
        except Nip46Error as exc:
            record = {"status": "failed", "detail": f"remote signer login failed: {exc}"}
        except HTTPException as exc:
            record = {"status": "failed", "detail": str(exc.detail)}
        await self.state.set(key, json.dumps(record).encode(), NOSTRCONNECT_RESULT_TTL)

    async def nostrconnect_result(self, attempt: str) -> dict[str, Any] | None:
        """The state of a nostrconnect login; a session is handed out once. None: unknown or expired."""
        if not attempt or len(attempt) > 64:
            return None
        key = f"auth:nostrconnect:{attempt}"
        raw = await self.state.get(key)
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
        if record["status"] != "pending":
            # Taken, not read: two polls racing for one session get it once between them.
            taken = await self.state.take(key)
            return json.loads(taken) if taken is not None else None
        return record

    # -- requests -----------------------------------------------------------------------------
    async def authenticate(self, request: Request) -> str | None:
        """The caller's hex pubkey from ``Authorization: Bearer <token>`` or ``Nostr <NIP-98 event>``.

        None without an Authorization header; 401 for bad, expired or revoked credentials;
        403 for a banned pubkey. The answer is cached on the request (NIP-98 events are single use).
        """
        cached = getattr(request.state, "nostr_auth", None)
        if cached is not None:
            return cached[0]  # type: ignore[no-any-return]
        header = request.headers.get("authorization")
        if header is None:
            pubkey = None
        else:
            scheme, _, credentials = header.strip().partition(" ")
            if scheme.lower() == "bearer":
                pubkey = await self._from_session(credentials.strip())
            elif scheme.lower() == "nostr":
                pubkey = await self._from_nip98(request, header)
            else:
                raise unauthorized(
                    "unsupported Authorization scheme: use Bearer <session token> or Nostr <NIP-98 event>"
                )
            await self._refuse_banned(pubkey)
        request.state.nostr_auth = (pubkey,)
        return pubkey

    async def _from_session(self, token: str) -> str:
        record = await self.session(token)
        if record is None:
            raise unauthorized("invalid, expired or revoked session token")
        return str(record["pubkey"])

    def _request_urls(self, request: Request) -> list[str]:
        urls = [str(request.url)]
        public = self.settings.gateway.public_url
        if public:
            query = request.url.query
            urls.append(public + request.url.path + (f"?{query}" if query else ""))
        return urls

    async def _from_nip98(self, request: Request, header: str) -> str:
        try:
            event = decode_auth_header(header, scheme="Nostr")
            body_hash = None
            expected_payload = payload_tag(event)
            if expected_payload is not None:
                length = request.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) <= NIP98_MAX_BODY:
                    body_hash = hashlib.sha256(await request.body()).hexdigest()
                elif length is None and request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
                    body_hash = hashlib.sha256(b"").hexdigest()
                else:
                    # Too large to hold in memory here: the upload route compares this with
                    # the SHA-256 it computes while streaming.
                    request.state.nip98_payload = expected_payload
            pubkey = verify_http_auth(
                event,
                urls=self._request_urls(request),
                method=request.method,
                body_sha256=body_hash,
                now=self.clock(),
            )
        except InvalidEvent as exc:
            raise unauthorized(exc.reason) from None
        if not await self.state.set(f"auth:nip98:{event['id']}", b"1", 2 * MAX_SKEW_SECONDS, only_new=True):
            raise unauthorized("this NIP-98 authorization event was already used")
        return pubkey


# -- router ---------------------------------------------------------------------------------------
class LoginRequest(BaseModel):
    auth_type: Literal["nip07", "nip46"]
    event: dict[str, Any] | None = Field(None, description="nip07: the signed kind 22242 event")
    challenge: str | None = Field(None, description="nip07: the challenge the event must carry (optional)")
    bunker_url: str | None = Field(None, description="nip46: bunker://<signer pubkey>?relay=…&secret=…")


def get_authenticator(request: Request) -> Authenticator:
    authenticator = request.app.state.services.extras.get("authenticator")
    if authenticator is None:
        raise HTTPException(503, detail="Nostr authentication is not configured")
    return authenticator  # type: ignore[no-any-return]


AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]


async def require_pubkey(request: Request, authenticator: AuthenticatorDep) -> str:
    """The caller's pubkey; 401 when the request carries no credentials."""
    pubkey = await authenticator.authenticate(request)
    if pubkey is None:
        raise unauthorized("authentication required: log in, or sign the request with NIP-98")
    return pubkey


UserDep = Annotated[str, Depends(require_pubkey)]


def create_auth_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["auth"])

    @router.get("/challenge")
    async def challenge(authenticator: AuthenticatorDep) -> dict[str, Any]:
        """A single-use challenge to sign in a kind 22242 event (``["challenge", c]``)."""
        return await authenticator.new_challenge()

    @router.post("/login")
    async def login(body: LoginRequest, authenticator: AuthenticatorDep) -> dict[str, Any]:
        """Exchange a signed challenge (NIP-07) or a bunker URL (NIP-46) for a session token."""
        if body.auth_type == "nip07":
            if body.event is None:
                raise HTTPException(400, detail="nip07 login needs the signed 'event'")
            pubkey = await authenticator.login_with_event(body.event, body.challenge)
        else:
            if not body.bunker_url:
                raise HTTPException(400, detail="nip46 login needs 'bunker_url'")
            pubkey = await authenticator.login_with_bunker(body.bunker_url)
        session = await authenticator.create_session(pubkey)
        log.info("login of %s (%s)", pubkey, body.auth_type)
        return session

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
        return JSONResponse(record["session"])

    @router.post("/logout")
    async def logout(request: Request, authenticator: AuthenticatorDep) -> dict[str, Any]:
        """Revoke the session whose token authorizes this request."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("logout needs 'Authorization: Bearer <session token>'")
        if not await authenticator.revoke(token.strip()):
            raise unauthorized("invalid, expired or revoked session token")
        return {"logged_out": True}

    @router.get("/me")
    async def me(request: Request, pubkey: UserDep, authenticator: AuthenticatorDep) -> dict[str, Any]:
        """Who the credentials belong to."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        session = await authenticator.session(token.strip()) if scheme.lower() == "bearer" else None
        return {
            "pubkey": pubkey,
            "is_admin": await authenticator.is_admin(pubkey),
            "expires_at": session["expires_at"] if session else None,
            "auth": "session" if session else "nip98",
        }

    return router
