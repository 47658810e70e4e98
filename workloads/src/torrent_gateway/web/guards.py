"""Request guards shared by the gateway and Blossom apps, run before routing and before any body
is read: control characters never route (:class:`RejectControlCharacters`), and no route but the
uploads reads more than a small body (:class:`LimitRequestBody`).

Starlette matches routes with Python regexes whose ``$`` also matches before a trailing newline,
so a decoded path such as ``/\\n`` (sent as ``/%0A``) would reach the web UI's ``/`` route and
answer 405 for other verbs. No real resource name holds a control character; such a target is a
malformed request and gets 400 before routing.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
REASON = "request path contains control characters"


class RejectControlCharacters:
    """400 (JSON ``detail`` and Blossom's ``X-Reason``) for any path with a control character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _CONTROL.search(scope.get("path", "")):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = JSONResponse(
                {"detail": REASON},
                status_code=400,
                headers={"X-Reason": REASON, "Access-Control-Allow-Origin": "*"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# Routes whose bodies are files: the ingest pipeline bounds them by storage.max_file_size
# (and Blossom's max_blob_size) while they stream, so this guard leaves them alone.
UPLOAD_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("POST", "/api/upload"), ("PUT", "/api/upload"), ("PUT", "/upload")}
)


def _too_large(limit: int) -> JSONResponse:
    reason = f"request body larger than {limit} bytes"
    return JSONResponse(
        {"detail": reason},
        status_code=413,
        headers={"X-Reason": reason, "Access-Control-Allow-Origin": "*", "Connection": "close"},
    )


class LimitRequestBody:
    """413 (JSON ``detail`` and Blossom's ``X-Reason``) for a body over ``limit`` bytes on any
    route but the uploads: refused from Content-Length before a byte is read, and counted while
    it streams otherwise (chunked bodies declare no length).

    When the count passes the limit this guard answers 413 itself and tells the app the client
    went away (``http.disconnect``): the app stops reading, and whatever it then tries to answer
    is dropped, so it never holds more than ``limit`` bytes of a hostile body.
    """

    def __init__(self, app: ASGIApp, limit: int, exempt: Collection[tuple[str, str]] = UPLOAD_ROUTES):
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope.get("path", "")) in self.exempt:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(self.limit)(scope, receive, send)
                return
        received = 0
        answered = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if not started:
                        await _too_large(self.limit)(scope, receive, send)
                        answered = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)
