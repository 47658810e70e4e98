"""The HTTP/1.1 protocol every component is served with: uvicorn's httptools protocol, told of a
lost connection on every open request.

uvicorn 0.55 marks only its newest request cycle as disconnected when the connection is lost. With
pipelined requests (a BitTorrent client asking for several WebSeed ranges at once) that is a
queued request, so the response being written never learns its client is gone; its next write
reaches uvloop's closed transport and raises ``RuntimeError: ... the handler is closed`` (issue 19,
defect 3: a killed client left a traceback per response in the log). This subclass remembers every
cycle whose response is still open and marks each one disconnected, so the download path stops
quietly as it does for an unpipelined client.

It builds on uvicorn's private ``HttpToolsProtocol`` (as the tracker's fast protocol does); the
uvicorn minor version is pinned, and tests/unit/test_private_api_pins.py names what moved when a
re-lock changes it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class PipelineAwareHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that tells every open request of the connection that the client has gone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open_cycles: list[Any] = []

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        self._open_cycles = [c for c in self._open_cycles if not c.response_complete and c is not cycle]
        if cycle is not None:
            self._open_cycles.append(cycle)

    def connection_lost(self, exc: Exception | None) -> None:
        for cycle in self._open_cycles:
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        self._open_cycles.clear()
        super().connection_lost(exc)
