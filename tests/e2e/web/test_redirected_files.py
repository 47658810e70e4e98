"""The web UI when downloads are redirected to the object store (``storage.s3.redirect_downloads``),
in a real browser against a real gateway and a real MinIO: the file page's image preview and audio
player load their bytes from MinIO's origin, which the page's CSP names for images and media and
for nothing else (no scripts, no connections)."""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.web.conftest import upload_bytes
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.minio import MinioServer

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, minio_server: MinioServer) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path_factory.mktemp("redirected"),
        serve=True,
        storage={
            "backend": "s3",
            "s3": {
                "endpoint": minio_server.endpoint,
                "bucket": f"web-redirect-{os.urandom(4).hex()}",
                "access_key": minio_server.access_key,
                "secret_key": minio_server.secret_key,
                "cache_dir": str(tmp_path_factory.mktemp("redirected-cache")),
                "redirect_downloads": True,
                "public_endpoint": minio_server.url,
            },
        },
        gc={"enabled": False},
    ) as running:
        yield running


def fetched_from(page: Page) -> list[str]:
    """The URLs of every request the page makes, redirect targets included."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def test_the_csp_names_the_object_store_for_images_and_media_only(
    gateway: RunningGateway, minio_server: MinioServer
) -> None:
    csp = httpx.get(f"{gateway.url}/", timeout=10).headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert minio_server.url in directives["img-src"].split()
    assert minio_server.url in directives["media-src"].split()
    for name in ("default-src", "script-src", "connect-src", "worker-src", "style-src"):
        assert minio_server.url not in directives[name]


def test_an_image_preview_comes_from_the_object_store(
    page: Page, gateway: RunningGateway, minio_server: MinioServer
) -> None:
    sha = upload_bytes(gateway.url, "dot.png", PNG, "image/png")["sha256"]
    requests = fetched_from(page)
    page.goto(f"{gateway.url}/#/file/{sha}")
    expect(page.get_by_role("img", name="Preview of dot.png")).to_be_visible()
    page.wait_for_function("() => document.getElementById('preview').naturalWidth === 1")
    assert any(url.startswith(f"{minio_server.url}/") and "X-Amz-Signature" in url for url in requests)


def test_an_audio_player_streams_from_the_object_store(
    page: Page, gateway: RunningGateway, minio_server: MinioServer
) -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(16000))  # one second of silence
    sha = upload_bytes(gateway.url, "tone.wav", buffer.getvalue(), "audio/wav")["sha256"]
    requests = fetched_from(page)
    page.goto(f"{gateway.url}/#/file/{sha}")
    expect(page.get_by_label("Audio: tone.wav")).to_be_visible()
    page.wait_for_function("() => document.getElementById('player').duration > 0.9")
    assert any(url.startswith(f"{minio_server.url}/") for url in requests)
