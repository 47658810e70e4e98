"""A real gateway with the Blossom router mounted (as serve mode does), on 127.0.0.1, plus
helpers to see exactly what the object store holds."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from torrent_gateway.blossom import create_blossom_router

from tests.support.gateway import RunningGateway, running_gateway
from tests.support.servers import UvicornThread
from tests.unit.blossom.tokens import Signer

CHUNK = 256 * 1024
MAX_BLOB = 1_500_000
ALLOWED_TYPES = ["image/*", "video/*", "text/plain", "application/octet-stream"]


@contextlib.contextmanager
def blossom_gateway(data_dir: Path, **sections: dict[str, Any]) -> Iterator[RunningGateway]:
    """The gateway app with ``create_blossom_router`` included; small limits unless overridden."""
    storage = {"blob_threshold": 1_000_000, "chunk_size": CHUNK, "max_file_size": 8_000_000}
    storage.update(sections.pop("storage", {}))
    blossom = {"max_blob_size": MAX_BLOB, "allowed_types": ALLOWED_TYPES}
    blossom.update(sections.pop("blossom", {}))

    def mount(app: Any, services: Any) -> None:
        app.include_router(create_blossom_router(services))

    with running_gateway(
        data_dir, extensions=[mount], storage=storage, blossom=blossom, **sections
    ) as gateway:
        yield gateway


def store_keys(gateway: RunningGateway) -> list[str]:
    """Every object in the filesystem store (staging excluded)."""
    root = Path(gateway.settings.storage.path)
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".staging" not in p.parts
    )


def staging_files(gateway: RunningGateway) -> list[Path]:
    staging = Path(gateway.settings.storage.path) / ".staging"
    return [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []


def now() -> int:
    return int(time.time())


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with blossom_gateway(tmp_path_factory.mktemp("blossom") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def alice() -> Signer:
    return Signer()


@pytest.fixture(scope="module")
def bob() -> Signer:
    return Signer()


class Origin:
    """Another web server (a stand-in for a remote Blossom server) that /mirror fetches from."""

    def __init__(self) -> None:
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []

        async def blob(request: Request) -> Response:
            name = request.path_params["name"]
            self.requests.append(name)
            if name not in self.blobs:
                return Response(b"no such blob", status_code=404)
            data, mime = self.blobs[name]
            return Response(data, media_type=mime)

        async def hop(request: Request) -> Response:
            return RedirectResponse(f"/blob/{request.path_params['name']}", status_code=302)

        async def loop(request: Request) -> Response:
            return RedirectResponse("/loop", status_code=302)

        self.app = Starlette(
            routes=[
                Route("/blob/{name}", blob),
                Route("/hop/{name}", hop),
                Route("/loop", loop),
            ]
        )


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[Origin, str]]:
    server = Origin()
    with UvicornThread(server.app) as running:
        yield server, running.url
