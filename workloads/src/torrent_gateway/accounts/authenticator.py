"""Who is calling: Nostr login (NIP-07 event or NIP-46 remote signer, by the user's
``bunker://`` URI or by ours, ``nostrconnect://``, given to a signer app) into opaque session
tokens, NIP-98 signed requests as a session-less alternative, bans, and admin rights.

A login event is accepted only when it is bound to this gateway, so a signature made for anyone
else (a NIP-42 AUTH for some relay, a NIP-98 event for another site) never logs in here:

* kind 22242 whose ``relay`` tag is this gateway's public URL, or kind 27235 (NIP-98) whose ``u``
  tag is ``<public URL>/api/auth/login`` and ``method`` tag ``POST``;
* a ``challenge`` tag holding a live challenge, taken atomically (single use);
* ``created_at`` within 60 s of now, either way.

A session token is handed out in the JSON body (API clients send ``Authorization: Bearer``)
and as the HttpOnly, SameSite=Strict cookie ``tgw_session`` (the web UI: no script ever holds
it). A cookie-authenticated unsafe request must carry ``X-Requested-With: torrent-gateway``.

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
from typing import TYPE_CHECKING, Any

import segno
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from ..nostr.events import InvalidEvent, decode_auth_header, tag_value, verify_event
from ..nostr.nip46 import BunkerURI, Nip46Client, Nip46Error, parse_bunker_url
from ..nostr.nip98 import HTTP_AUTH_KIND, MAX_SKEW_SECONDS, payload_tag, same_url, verify_http_auth
from ..web.urls import base_url

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

LOGIN_KIND = 22242
LOGIN_PATH = "/api/auth/login"
LOGIN_MAX_SKEW = 60  # seconds a login event's created_at may differ from now, either way
LOGIN_MAX_BODY = 64 * 1024  # a login body is one small event or a bunker URL
SESSION_COOKIE = "tgw_session"
# A cookie rides along on every request the browser makes, including ones another site
# triggers; a custom header cannot be sent cross-site without a CORS preflight we never grant.
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "torrent-gateway"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
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
    ``services.authenticator``."""

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
    async def new_challenge(self, gateway_url: str) -> dict[str, Any]:
        """A single-use challenge, and what a login event must carry to be bound to this gateway."""
        challenge = secrets.token_urlsafe(32)
        ttl = self.settings.auth.challenge_ttl
        await self.state.set(f"auth:challenge:{challenge}", b"1", ttl)
        return {
            "challenge": challenge,
            "expires_at": int(self.clock() + ttl),
            "kind": LOGIN_KIND,
            # kind 22242: ["relay", relay] and ["challenge", challenge];
            # kind 27235: ["u", login_url], ["method", "POST"] and ["challenge", challenge].
            "relay": gateway_url,
            "login_url": gateway_url + LOGIN_PATH,
            "max_age": LOGIN_MAX_SKEW,
        }

    async def consume_challenge(self, challenge: str) -> bool:
        if not challenge or len(challenge) > 128:
            return False
        return await self.state.take(f"auth:challenge:{challenge}") is not None

    def gateway_url(self, request: Request | None) -> str:
        """This gateway's own public URL: the configured one, never a client's Host header when set."""
        return base_url(request, self.settings)

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

    def session_response(self, session: dict[str, Any]) -> JSONResponse:
        """The login answer: the session JSON (API clients) and the HttpOnly cookie (the web UI)."""
        response = JSONResponse(session)
        response.set_cookie(
            SESSION_COOKIE,
            session["token"],
            max_age=self.settings.auth.session_ttl,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.settings.gateway.public_url.startswith("https://"),
        )
        return response

    # -- login --------------------------------------------------------------------------------
    def check_login_binding(self, event: dict[str, Any], gateway_url: str) -> None:
        """The event must be fresh and name this gateway; raises 401 with the reason otherwise."""
        skew = abs(self.clock() - event["created_at"])
        if skew > LOGIN_MAX_SKEW:
            raise unauthorized(
                f"login event is stale: created_at must be within {LOGIN_MAX_SKEW} s of now; sign a new one"
            )
        if event["kind"] == LOGIN_KIND:
            relay = tag_value(event, "relay")
            if not relay:
                raise unauthorized(
                    f"login event has no 'relay' tag: it must name this gateway, {gateway_url}"
                )
            if not same_url(relay, gateway_url):
                raise unauthorized(
                    f"login event is signed for another relay or site ({relay[:200]!r}), not {gateway_url}"
                )
            return
        login_url = gateway_url + LOGIN_PATH
        url = tag_value(event, "u")
        if not url or not same_url(url, login_url):
            raise unauthorized(f"login event is signed for another URL: its 'u' tag must be {login_url}")
        method = tag_value(event, "method")
        if not method or method.upper() != "POST":
            raise unauthorized("login event is signed for another method: its 'method' tag must be POST")

    async def login_with_event(
        self, event: Any, expected_challenge: str | None = None, *, gateway_url: str
    ) -> str:
        """NIP-07 login: an event bound to this gateway, fresh, signed by the user, carrying a live
        challenge (see the module docstring)."""
        try:
            kind = event.get("kind") if isinstance(event, dict) else None
            verify_event(event, kinds={HTTP_AUTH_KIND if kind == HTTP_AUTH_KIND else LOGIN_KIND})
        except InvalidEvent as exc:
            raise unauthorized(exc.reason) from None
        challenge = tag_value(event, "challenge")
        if not challenge:
            raise unauthorized("login event has no 'challenge' tag")
        if expected_challenge is not None and challenge != expected_challenge:
            raise unauthorized("login event is signed for another challenge")
        self.check_login_binding(event, gateway_url)
        # Banned keys are refused before the challenge is spent: nothing changes for them.
        await self._refuse_banned(event["pubkey"])
        if not await self.consume_challenge(challenge):
            raise unauthorized("unknown, expired or already used challenge: get a new one")
        return str(event["pubkey"])

    async def login_with_bunker(self, bunker_url: str, *, gateway_url: str) -> str:
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
                return await self._sign_in_with(client, gateway_url)
        except Nip46Error as exc:
            raise unauthorized(f"remote signer login failed: {exc}") from None

    async def _sign_in_with(self, client: Nip46Client, gateway_url: str) -> str:
        """Have a connected remote signer sign a fresh login event bound to this gateway; returns
        the user's pubkey. The signer signs what we ask, so the event is held to the same rules."""
        issued = await self.new_challenge(gateway_url)
        try:
            pubkey = await client.get_public_key()
            await self._refuse_banned(pubkey)
            event = await client.sign_event(
                {
                    "kind": LOGIN_KIND,
                    "content": "",
                    "tags": [["relay", gateway_url], ["challenge", issued["challenge"]]],
                    "created_at": int(self.clock()),
                }
            )
        except (Nip46Error, HTTPException):
            await self.consume_challenge(issued["challenge"])
            raise
        return await self.login_with_event(event, issued["challenge"], gateway_url=gateway_url)

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
        task = self.services.spawn(
            self._await_nostrconnect(attempt, client, ttl, app_url), name="nostrconnect"
        )
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

    async def _await_nostrconnect(
        self, attempt: str, client: Nip46Client, within: float, gateway_url: str
    ) -> None:
        key = f"auth:nostrconnect:{attempt}"
        try:
            async with client:
                await client.wait_for_signer(within)
                pubkey = await self._sign_in_with(client, gateway_url)
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
        """The caller's hex pubkey from ``Authorization: Bearer <token>``, ``Nostr <NIP-98 event>``
        or the ``tgw_session`` cookie.

        None without credentials (an unknown or expired cookie counts as none: a browser sends it
        on every request, also to public pages); 401 for a bad, expired or revoked Authorization
        header; 403 for a banned pubkey and for a cookie-authenticated unsafe request without
        ``X-Requested-With: torrent-gateway``. The answer is cached on the request (NIP-98 events
        are single use); ``request.state.session_token`` holds the session token used, if any.
        """
        cached = getattr(request.state, "nostr_auth", None)
        if cached is not None:
            return cached[0]  # type: ignore[no-any-return]
        request.state.session_token = None
        header = request.headers.get("authorization")
        pubkey: str | None
        if header is None:
            pubkey = await self._from_cookie(request)
        else:
            scheme, _, credentials = header.strip().partition(" ")
            if scheme.lower() == "bearer":
                pubkey = await self._from_session(credentials.strip())
                request.state.session_token = credentials.strip()
            elif scheme.lower() == "nostr":
                pubkey = await self._from_nip98(request, header)
            else:
                raise unauthorized(
                    "unsupported Authorization scheme: use Bearer <session token> or Nostr <NIP-98 event>"
                )
        if pubkey is not None:
            await self._refuse_banned(pubkey)
        request.state.nostr_auth = (pubkey,)
        return pubkey

    async def _from_cookie(self, request: Request) -> str | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        record = await self.session(token)
        if record is None:
            return None
        if request.method in UNSAFE_METHODS and request.headers.get(CSRF_HEADER) != CSRF_VALUE:
            raise HTTPException(
                403,
                detail=f"a cookie-authenticated {request.method} needs the header "
                f"'X-Requested-With: {CSRF_VALUE}' (cross-site request refused)",
            )
        request.state.session_token = token
        return str(record["pubkey"])

    async def _from_session(self, token: str) -> str:
        record = await self.session(token)
        if record is None:
            raise unauthorized("invalid, expired or revoked session token")
        return str(record["pubkey"])

    def _request_urls(self, request: Request) -> list[str]:
        """The URL a NIP-98 ``u`` tag must name. With ``gateway.public_url`` set that is the only
        one: the Host header is the client's to choose and must not pick what a signature binds."""
        public = self.settings.gateway.public_url
        if not public:
            return [str(request.url)]
        query = request.url.query
        return [public + request.url.path + (f"?{query}" if query else "")]

    async def _from_nip98(self, request: Request, header: str) -> str:
        try:
            event = decode_auth_header(header, scheme="Nostr")
            # Signature, URL, method and age first: an unauthenticated request never makes us
            # read its body to check a payload hash.
            pubkey = verify_http_auth(
                event, urls=self._request_urls(request), method=request.method, now=self.clock()
            )
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
                    body_hash = None
                if body_hash is not None and body_hash != expected_payload:
                    raise InvalidEvent("request body does not match the authorization event's 'payload' hash")
        except InvalidEvent as exc:
            raise unauthorized(exc.reason) from None
        if not await self.state.set(f"auth:nip98:{event['id']}", b"1", 2 * MAX_SKEW_SECONDS, only_new=True):
            raise unauthorized("this NIP-98 authorization event was already used")
        return pubkey
