"""Serves the browser UI and the API documentation from our own origin: the single page (``/``), its
static files, the favicon, ``/docs`` with Swagger UI's assets from a pinned package (no CDN), and the
"not found" page that browsers get for unknown paths (API clients keep JSON). Every UI response
carries a strict Content-Security-Policy and the other browser security headers: the page runs only
the scripts and styles of ``static/``, so bytes that users upload can never script this origin."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_ROOT = resources.files(__name__)

# The UI loads nothing but its own files. hls.js feeds the <video> through MediaSource (blob: URLs)
# and may run its demuxer in a blob: worker; the nostrconnect QR code is a data: SVG image.
UI_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Swagger UI (a React app) sets style attributes as it renders, hence 'unsafe-inline' for styles on
# /docs only; scripts stay 'self' there too.
DOCS_CSP = UI_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def security_headers(csp: str = UI_CSP) -> dict[str, str]:
    """Headers of every UI response: the CSP, no MIME sniffing, no referrer leaking file addresses to
    other sites, no framing (click-jacking), a browsing context of our own."""
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    }


class SecuredStaticFiles(StaticFiles):
    """Static files with the UI's security headers on every answer (304s and 404s included)."""

    def __init__(self, *args: Any, csp: str = UI_CSP, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers = security_headers(csp)

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except StarletteHTTPException as exc:
            response = Response(
                '{"detail":"Not Found"}' if exc.status_code == 404 else "",
                status_code=exc.status_code,
                media_type="application/json",
            )
        response.headers.update(self.headers)
        return response


def _page(name: str) -> str:
    return (WEB_ROOT / name).read_text(encoding="utf-8")


def wants_html(request: Request) -> bool:
    """A browser navigating (Accept names text/html) rather than an API client."""
    return "text/html" in request.headers.get("accept", "")


def install_api_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from a pinned PyPI package, started by our own script (no inline code)."""
    import swagger_ui_bundle

    docs_html = _page("docs.html")
    app.mount(
        "/docs/assets",
        SecuredStaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path), csp=DOCS_CSP),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_html, headers=security_headers(DOCS_CSP))


def ui_csp(file_origins: tuple[str, ...] = ()) -> str:
    """The UI's CSP; ``file_origins`` may also serve the images, audio and video it shows (where a
    download is redirected to: the object store's public endpoint). Never scripts or connections."""
    if not file_origins:
        return UI_CSP
    extra = " ".join(file_origins)
    return UI_CSP.replace("img-src 'self'", f"img-src 'self' {extra}").replace(
        "media-src 'self'", f"media-src 'self' {extra}"
    )


def install_web_ui(app: FastAPI, *, file_origins: tuple[str, ...] = ()) -> None:
    """The single-page UI at ``/``, its files under ``/static``, the favicon and the HTML 404 page."""
    index_html = _page("index.html")
    not_found_html = _page("not-found.html")
    page_headers = {**security_headers(ui_csp(file_origins)), "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(index_html, headers=page_headers)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(
            str(WEB_ROOT / "static" / "favicon.svg"),
            media_type="image/svg+xml",
            headers={**security_headers(), "Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static", SecuredStaticFiles(directory=str(WEB_ROOT / "static")), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def not_found_page(request: Request, exc: StarletteHTTPException) -> Response:
        # Only a path that no route matched gets the page: a route's own 404 ("no such file") and
        # every /api path keep the JSON {"detail": ...} that clients parse.
        unmatched = exc.status_code == 404 and "endpoint" not in request.scope
        if unmatched and wants_html(request) and not request.url.path.startswith("/api"):
            return HTMLResponse(not_found_html, status_code=404, headers=page_headers)
        return await http_exception_handler(request, exc)
