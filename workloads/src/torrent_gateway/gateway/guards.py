"""Request-target guard shared by the gateway and Blossom apps: control characters never route.

Starlette matches routes with Python regexes whose ``$`` also matches before a trailing newline,
so a decoded path such as ``/\\n`` (sent as ``/%0A``) would reach the web UI's ``/`` route and
answer 405 for other verbs. No real resource name holds a control character; such a target is a
malformed request and gets 400 before routing.
"""

from __future__ import annotations

import re

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

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
