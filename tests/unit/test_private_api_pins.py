"""The one private API we build on still has the shape we use, in the uvicorn the lock installs.

``tracker/http_fast.py`` hands a connection over to uvicorn's ``HttpToolsProtocol`` (a private
class): it constructs it with keyword arguments, swaps the transport's protocol and feeds it the
bytes already read, and it relies on ``ServerState`` fields for graceful shutdown.
``web/http_protocol.py`` subclasses it to mark every open request cycle disconnected when the
connection is lost. uvicorn is pinned
in pyproject.toml and requirements/*.lock; when a re-lock moves it, this test names what changed
instead of letting the tracker fail at the first non-announce request.
"""

from __future__ import annotations

import inspect

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState


def test_httptools_protocol_constructor_takes_what_we_pass() -> None:
    parameters = inspect.signature(HttpToolsProtocol.__init__).parameters
    for name in ("config", "server_state", "app_state", "_loop"):
        assert name in parameters, f"uvicorn {uvicorn.__version__}: HttpToolsProtocol lost {name!r}"


def test_httptools_protocol_has_the_asyncio_protocol_hooks_we_call() -> None:
    for name in ("connection_made", "data_received", "connection_lost", "shutdown"):
        assert callable(getattr(HttpToolsProtocol, name, None)), (
            f"uvicorn {uvicorn.__version__}: HttpToolsProtocol.{name} is gone"
        )


def test_request_cycles_have_the_fields_the_pipeline_aware_protocol_sets() -> None:
    # It reads HttpToolsProtocol.cycle after on_headers_complete, and a cycle's response_complete,
    # and on a lost connection sets disconnected and message_event.
    assert callable(getattr(HttpToolsProtocol, "on_headers_complete", None))
    assert "self.cycle" in inspect.getsource(HttpToolsProtocol.on_headers_complete)
    source = inspect.getsource(RequestResponseCycle.__init__)
    for field in ("self.response_complete", "self.disconnected", "self.message_event"):
        assert field in source, f"uvicorn {uvicorn.__version__}: RequestResponseCycle lost {field}"


def test_server_state_fields_we_update() -> None:
    state = ServerState()
    assert isinstance(state.connections, set)
    assert isinstance(state.total_requests, int)


def test_uvicorn_is_the_locked_minor_version() -> None:
    # pyproject.toml pins uvicorn below 0.56; the private API was checked against 0.55.
    major, minor = (int(part) for part in uvicorn.__version__.split(".")[:2])
    assert (major, minor) == (0, 55), f"re-check http_fast.py against uvicorn {uvicorn.__version__}"
