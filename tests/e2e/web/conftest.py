"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser), a real
gateway with the Nostr login and HLS extensions, Nostr test keys, and a NIP-07 ``window.nostr``
injected into pages that signs in Python with the test key, axe-core (from tests/js, pinned by its
lock file) and the screenshots written to docs/screenshots/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nostr_sdk
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from torrent_gateway.accounts import accounts_extension, install_accounts
from torrent_gateway.hls import install_hls
from torrent_gateway.nostr import install_nostr
from torrent_gateway.nostr.events import sign_event
from torrent_gateway.p2p.app import install_coordinator
from torrent_gateway.services import Services

from tests.integration.hls.media import make_clip, make_garbage
from tests.integration.nostr.helpers import RemoteSigner, running_relay
from tests.support.gateway import RunningGateway, running_gateway

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "docs" / "screenshots"
JS_TESTS = REPO / "tests" / "js"
AXE_SCRIPT = JS_TESTS / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# The login event the gateway binds to itself (NIP-98 style): u = its login URL, method POST, challenge.
LOGIN_KIND = 27235
SESSION_COOKIE = "tgw_session"
CSRF_HEADERS = {"X-Requested-With": "torrent-gateway"}


@dataclass
class Web:
    gateway: RunningGateway
    admin: nostr_sdk.Keys
    user: nostr_sdk.Keys
    media: dict[str, Path]
    canary: dict[str, bool]  # {"healthy": …}: a health component the tests can break
    relay_url: str  # a real relay, where nostrconnect:// logins meet the signer

    @property
    def url(self) -> str:
        return self.gateway.url


# Module scope: Playwright's sync API runs its own event loop, which must be gone before the
# async tests of other modules start theirs.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


def nostr_extension(app: Any, services: Services) -> None:
    # The test relay of the bunker login listens on loopback: allow it (production refuses).
    install_nostr(services)
    install_accounts(services, allow_private_relays=True, nip46_timeout=10.0)
    accounts_extension(app, services)


def canary_extension(canary: dict[str, bool]) -> Any:
    def install(app: Any, services: Services) -> None:
        async def probe() -> bool:
            return canary["healthy"]

        services.probes["canary"] = probe

    return install


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    media_dir = tmp_path_factory.mktemp("web-media")
    media = {
        "clip": make_clip(media_dir / "clip.mp4", seconds=6, width=320, height=240, gop=50),
        "garbage": make_garbage(media_dir / "broken.mp4"),
    }
    admin, user = nostr_sdk.Keys.generate(), nostr_sdk.Keys.generate()
    canary = {"healthy": True}
    with (
        running_relay(tmp_path_factory.mktemp("web-relay")) as relay,
        running_gateway(
            tmp_path_factory.mktemp("web-data"),
            extensions=[nostr_extension, install_hls, install_coordinator, canary_extension(canary)],
            auth={"admin_pubkeys": [admin.public_key().to_hex()], "nostrconnect_relays": [relay.url]},
            hls={"renditions": [240], "segment_seconds": 2},
        ) as gateway,
    ):
        yield Web(gateway, admin, user, media, canary, relay.url)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def add_nostr_signer(context: BrowserContext, keys: nostr_sdk.Keys) -> list[dict[str, Any]]:
    """Give every page of the context a NIP-07 ``window.nostr`` backed by ``keys``; returns the
    list of events it signed."""
    signed: list[dict[str, Any]] = []

    def sign(template: dict[str, Any]) -> dict[str, Any]:
        event = sign_event(
            keys,
            kind=int(template["kind"]),
            content=str(template.get("content", "")),
            tags=template.get("tags", []),
            created_at=int(template.get("created_at") or time.time()),
        )
        signed.append(event)
        return event

    context.expose_function("tgwTestSignEvent", sign)
    context.expose_function("tgwTestPublicKey", lambda: keys.public_key().to_hex())
    context.add_init_script(
        "window.nostr = {"
        " getPublicKey: () => window.tgwTestPublicKey(),"
        " signEvent: (template) => window.tgwTestSignEvent(template),"
        "};"
    )
    return signed


def api_login_response(base: str, keys: nostr_sdk.Keys) -> httpx.Response:
    """Log ``keys`` in through the HTTP API: challenge → signed kind 27235 event bound to this
    gateway's login URL → login."""
    challenge = httpx.get(f"{base}/api/auth/challenge").json()["challenge"]
    event = sign_event(
        keys,
        kind=LOGIN_KIND,
        content="",
        tags=[["u", f"{base}/api/auth/login"], ["method", "POST"], ["challenge", challenge]],
        created_at=int(time.time()),
    )
    return httpx.post(
        f"{base}/api/auth/login",
        json={"auth_type": "nip07", "event": event, "challenge": challenge},
        headers=CSRF_HEADERS,
    )


def api_login(base: str, keys: nostr_sdk.Keys) -> str:
    """A session token for ``keys``."""
    response = api_login_response(base, keys)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def upload_bytes(
    base: str, name: str, data: bytes, content_type: str, token: str | None = None
) -> dict[str, Any]:
    headers = {"content-type": content_type}
    if token:
        headers["authorization"] = f"Bearer {token}"
    response = httpx.put(
        f"{base}/api/upload", params={"name": name}, content=data, headers=headers, timeout=30
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def upload(base: str, path: Path, content_type: str, token: str | None = None) -> dict[str, Any]:
    return upload_bytes(base, path.name, path.read_bytes(), content_type, token)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


ACCESSIBILITY_PROBLEMS = """
() => {
  const problems = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (!visible(el) || el.type === "hidden") continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label")) problems.push(`unlabelled ${el.outerHTML.slice(0, 80)}`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!visible(el)) continue;
    const name = (el.getAttribute("aria-label") || el.textContent || "").trim();
    if (!name) problems.push(`nameless ${el.outerHTML.slice(0, 80)}`);
  }
  for (const el of document.querySelectorAll("img")) if (!el.hasAttribute("alt")) problems.push("img without alt");
  for (const el of document.querySelectorAll("video, audio")) {
    if (!el.getAttribute("aria-label")) problems.push(`${el.tagName} without aria-label`);
  }
  const headings = [...document.querySelectorAll("h1")].filter(visible);
  if (headings.length !== 1) problems.push(`${headings.length} visible h1`);
  if (!document.querySelector("main")) problems.push("no main landmark");
  if (!document.querySelector("nav[aria-label]")) problems.push("no labelled nav");
  if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push(`horizontal scroll: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  return problems;
}
"""


def assert_accessible(page: Page) -> None:
    """Basic checks every view must pass: labels, names, alt text, one h1, landmarks, no sideways scroll."""
    assert page.evaluate(ACCESSIBILITY_PROBLEMS) == []


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, installed from tests/js's lock file (``npm ci``) when it is missing."""
    if not AXE_SCRIPT.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_TESTS, check=True, timeout=600)
    return AXE_SCRIPT.read_text(encoding="utf-8")


def axe_violations(page: Page, axe: str) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations (WCAG 2.x A/AA rules) of the page as it is now.
    ``evaluate`` runs outside the page's CSP, which forbids injected scripts."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe)
    result = page.evaluate(
        """async () => {
          const r = await window.axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
          });
          return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def assert_no_axe_violations(page: Page, axe: str, where: str) -> None:
    violations = axe_violations(page, axe)
    assert not violations, f"{where}: {json.dumps(violations, indent=1)}"


def session_cookie(context: BrowserContext) -> dict[str, Any] | None:
    for cookie in context.cookies():
        if cookie["name"] == SESSION_COOKIE:
            return dict(cookie)
    return None


def log_in_with_extension(page: Page, base: str) -> None:
    """Log the page's NIP-07 signer in through the login page; fails clearly when the gateway does not
    keep the session in its cookie (the UI then reports it under the extension card)."""
    page.goto(f"{base}/#/login")
    page.get_by_role("button", name="Log in with extension").click()
    error = page.locator("#login-error-nip07")
    page.wait_for_function(
        "() => /#\\/(my|admin)$/.test(location.hash) || document.getElementById('login-error-nip07').textContent",
        timeout=20_000,
    )
    assert not error.inner_text(), (
        f"login failed in the page: {error.inner_text()!r}. The UI signs a kind 27235 event (u = the login"
        " URL, method POST, challenge) and expects the gateway to keep the session in an HttpOnly"
        " tgw_session cookie that GET /api/auth/me accepts."
    )


@dataclass
class ThreadedSigner:
    """A NIP-46 remote signer running in its own thread and event loop."""

    bunker_url: str
    signer: RemoteSigner
    loop: asyncio.AbstractEventLoop

    def answer_nostrconnect(self, uri: str) -> None:
        """Take up a page's nostrconnect:// URI, as a signer app does when the user scans it."""
        asyncio.run_coroutine_threadsafe(self.signer.answer_nostrconnect(uri), self.loop).result(15)


@contextlib.contextmanager
def signer_in_thread(relay_url: str, user: nostr_sdk.Keys) -> Iterator[ThreadedSigner]:
    """A NIP-46 remote signer for ``user`` answering on ``relay_url`` from its own thread (the browser
    test is synchronous)."""
    ready: dict[str, Any] = {}
    started = threading.Event()
    stop = threading.Event()

    async def serve() -> None:
        try:
            async with RemoteSigner(relay_url, user_keys=user) as signer:
                ready["signer"] = ThreadedSigner(signer.bunker_url(), signer, asyncio.get_running_loop())
                started.set()
                await asyncio.to_thread(stop.wait, 60)
        except BaseException as exc:
            ready["error"] = exc
            started.set()
            raise

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    try:
        assert started.wait(30), "the remote signer did not start"
        if "error" in ready:
            raise RuntimeError(f"remote signer failed: {ready['error']!r}")
        yield ready["signer"]
    finally:
        stop.set()
        thread.join(timeout=15)
