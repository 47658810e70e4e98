"""The one error type of the Blossom endpoints: an HTTP status and a reason safe to show.

Routes raise it; the Blossom route class turns it into a response with the reason in the
``X-Reason`` header (BUD-01) and in a JSON ``message`` body, so that the gateway's own error
format stays untouched when the Blossom router is mounted into the gateway app.
"""

from __future__ import annotations


class BlossomError(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}
