"""Issue 21 and the UI part of issue 15 in a real browser (Debian's Chromium) against a real gateway:
the UI's own strict CSP and security headers, the session in an HttpOnly cookie, failed uploads in red
with Retry, multi-file / drag-and-drop / paste uploads, per-card login errors, npub, offline /docs,
favicon, skip link, "not found" pages, the admin page for non-admins, video states and quality picker,
button contrast and touch targets, swarm facts, a keyboard-only walk, axe-core on every page and state
at desktop and phone width (screenshots to docs/screenshots/), and the first-load budget."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page, expect

from tests.e2e.web.conftest import (
    Web,
    add_nostr_signer,
    assert_no_axe_violations,
    log_in_with_extension,
    screenshot,
    session_cookie,
    upload_bytes,
)
from tests.integration.hls.media import make_clip
from tests.support.gateway import running_gateway

VIEWPORTS = {"desktop": {"width": 1100, "height": 900}, "phone": {"width": 375, "height": 740}}
CSP_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
)


def csp_violations(page: Page) -> list[str]:
    """Console messages of CSP refusals, collected from now on."""
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if "Content Security Policy" in m.text else None)
    return found


def contrast(fg: str, bg: str) -> float:
    def luminance(css: str) -> float:
        r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def tab_to(page: Page, matches: str, limit: int = 60) -> None:
    """Press Tab until the focused element satisfies the JS predicate ``matches`` (el => bool)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!el && ({matches})(el); }}"):
            return
    raise AssertionError(f"keyboard focus never reached {matches}")


# ---- headers, CSP, /docs, favicon, 404 ---------------------------------------------------------


def test_ui_answers_carry_a_strict_csp_and_security_headers(page: Page, web: Web) -> None:
    for path in ("/", "/static/js/main.js", "/static/app.css", "/favicon.ico", "/static/missing.js"):
        response = httpx.get(f"{web.url}{path}")
        csp = response.headers.get("content-security-policy", "")
        for directive in CSP_DIRECTIVES:
            assert directive in csp, (path, csp)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    assert httpx.get(f"{web.url}/favicon.ico").headers["content-type"].startswith("image/svg+xml")
    html = httpx.get(f"{web.url}/").text
    assert "<script>" not in html and " style=" not in html  # nothing inline for the CSP to allow
    refused = csp_violations(page)
    page.goto(f"{web.url}/")
    expect(page.locator("#recent-section")).to_be_visible()
    page.goto(f"{web.url}/#/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in with Nostr")
    assert refused == []


def test_api_docs_work_offline(page: Page, web: Web) -> None:
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(web.url) else None)
    refused = csp_violations(page)
    response = page.goto(f"{web.url}/docs")
    assert response is not None and response.status == 200
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Torrent Gateway", timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert foreign == []
    assert refused == []
    assert httpx.get(f"{web.url}/redoc").status_code == 404  # ReDoc would load from a CDN


def test_unknown_routes_show_a_not_found_page(page: Page, web: Web) -> None:
    page.goto(f"{web.url}/#/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert page.locator("#view-home").is_hidden()
    page.get_by_role("link", name="Go to the upload page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload a file")

    response = page.goto(f"{web.url}/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    api = httpx.get(f"{web.url}/api/no-such-route", headers={"accept": "text/html"})
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    client = httpx.get(f"{web.url}/no/such/page")
    assert client.status_code == 404 and client.json() == {"detail": "Not Found"}
    # A route's own 404 keeps its JSON reason, even for a browser.
    missing = httpx.get(f"{web.url}/api/files/{'0' * 64}", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "detail" in missing.json()


def test_skip_link_moves_focus_to_the_main_content(page: Page, web: Web) -> None:
    page.goto(f"{web.url}/#/login")
    page.keyboard.press("Tab")
    expect(page.locator("#skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert page.evaluate("location.hash") == "#/login"
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in with Nostr")


# ---- uploads ----------------------------------------------------------------------------------


def test_a_failed_upload_is_red_says_why_and_retries(page: Page, web: Web) -> None:
    page.goto(f"{web.url}/")
    # The connection drops during the first attempt (the browser sees a network error).
    page.route("**/api/upload", lambda route: route.abort("connectionreset"))
    page.set_input_files(
        "#file-input", files=[FilePayload(name="flaky.txt", mimeType="text/plain", buffer=b"retry me\n")]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    item = page.locator('#upload-list li[data-name="flaky.txt"]')
    expect(item).to_have_attribute("data-state", "failed")
    result = item.locator(".upload-result")
    expect(result).to_contain_text("Upload of flaky.txt failed: the connection to the gateway was lost")
    assert result.evaluate("el => getComputedStyle(el).color") == "rgb(179, 38, 30)"  # --danger
    assert item.locator("progress").evaluate("el => getComputedStyle(el).accentColor") == "rgb(179, 38, 30)"
    screenshot(page, "desktop-upload-failed")
    page.unroute("**/api/upload")
    item.get_by_role("button", name="Retry upload of flaky.txt").click()
    expect(item).to_have_attribute("data-state", "done")
    expect(result).to_contain_text("Uploaded flaky.txt")
    sha = item.get_attribute("data-sha256")
    assert httpx.get(f"{web.url}/api/download/{sha}").content == b"retry me\n"


def test_a_refused_upload_says_why_in_words(page: Page, tmp_path: Path) -> None:
    with running_gateway(tmp_path / "closed", gateway={"anonymous_uploads": False}) as closed:
        page.goto(f"{closed.url}/")
        page.set_input_files(
            "#file-input", files=[FilePayload(name="anon.txt", mimeType="text/plain", buffer=b"nobody\n")]
        )
        page.get_by_role("button", name="Upload", exact=True).click()
        item = page.locator('#upload-list li[data-name="anon.txt"]')
        expect(item).to_have_attribute("data-state", "failed")
        expect(item).to_contain_text("accepts uploads only from people who are logged in")
        expect(item.get_by_role("button", name="Retry upload of anon.txt")).to_be_visible()
        assert (
            item.locator(".upload-result").evaluate("el => getComputedStyle(el).color") == "rgb(179, 38, 30)"
        )


def test_several_files_by_picker_drop_and_paste(page: Page, web: Web) -> None:
    page.goto(f"{web.url}/")
    page.set_input_files(
        "#file-input",
        files=[
            FilePayload(name="one.txt", mimeType="text/plain", buffer=b"first of two\n"),
            FilePayload(name="two.txt", mimeType="text/plain", buffer=b"second of two\n"),
        ],
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    for name in ("one.txt", "two.txt"):
        expect(page.locator(f'#upload-list li[data-name="{name}"]')).to_have_attribute("data-state", "done")

    page.evaluate(
        """() => {
          const dt = new DataTransfer();
          dt.items.add(new File(["dropped bytes\\n"], "dropped.txt", {type: "text/plain"}));
          const zone = document.getElementById("upload-form");
          zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
          zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        }"""
    )
    expect(page.locator('#upload-list li[data-name="dropped.txt"]')).to_have_attribute("data-state", "done")
    page.evaluate(
        """() => {
          const dt = new DataTransfer();
          dt.items.add(new File(["pasted bytes\\n"], "pasted.txt", {type: "text/plain"}));
          document.body.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
        }"""
    )
    pasted = page.locator('#upload-list li[data-name="pasted.txt"]')
    expect(pasted).to_have_attribute("data-state", "done")
    sha = pasted.get_attribute("data-sha256")
    assert httpx.get(f"{web.url}/api/download/{sha}").content == b"pasted bytes\n"
    expect(page.locator("#recent-files").get_by_role("link", name="pasted.txt")).to_be_visible()


# ---- the file page ------------------------------------------------------------------------------


def test_file_page_download_button_and_swarm(page: Page, web: Web) -> None:
    info = upload_bytes(web.url, "swarm.txt", b"seed me\n" * 100, "text/plain")
    page.goto(f"{web.url}/#/file/{info['sha256']}")
    expect(page.locator("#swarm-webseed")).to_contain_text("serves the pieces over HTTP")
    expect(page.locator("#swarm-seeds")).to_have_text("0")
    expect(page.locator("#swarm-peers")).to_have_text("0")
    expect(page.locator("#swarm-dht")).to_contain_text("not available here")
    expect(page.locator("#swarm-tracker")).to_contain_text("not available here")

    button = page.locator("#download-button")
    style = (
        "el => { const s = getComputedStyle(el); return [s.color, s.backgroundColor, s.textDecorationLine]; }"
    )
    color, background, decoration = button.evaluate(style)
    assert decoration == "none" and contrast(color, background) >= 4.5
    button.hover()
    color, background, decoration = button.evaluate(style)
    assert decoration == "none" and contrast(color, background) >= 4.5, (color, background)
    centers = page.locator(".link-row > *").evaluate_all(
        "els => els.map((el) => { const r = el.getBoundingClientRect(); return [r.top + r.height / 2, r.height]; })"
    )
    assert len(centers) == 3 and max(c for c, _ in centers) - min(c for c, _ in centers) < 1
    assert all(height >= 44 for _, height in centers)


def test_file_page_counts_the_swarm_of_the_tracker(page: Page, tmp_path: Path) -> None:
    # The full one-process composition (tracker on the gateway's port); a seed and a leecher announce
    # over the tracker's HTTP protocol, as BitTorrent clients do.
    with running_gateway(tmp_path / "serve", serve=True) as served:
        info = httpx.put(
            f"{served.url}/api/upload",
            params={"name": "shared.txt"},
            content=b"shared by a swarm\n" * 500,
            headers={"content-type": "text/plain"},
        ).json()
        info_hash = urllib.parse.quote_from_bytes(bytes.fromhex(info["infohash"]))
        for number, left in ((1, 0), (2, 4096)):
            announce = httpx.get(
                f"{served.url}/announce?info_hash={info_hash}&peer_id=-TG0001-{number:012d}"
                f"&port={6880 + number}&uploaded=0&downloaded=0&left={left}&compact=1&event=started"
            )
            assert announce.status_code == 200 and b"failure" not in announce.content
        page.goto(f"{served.url}/#/file/{info['sha256']}")
        expect(page.locator("#swarm-seeds")).to_have_text("1")
        expect(page.locator("#swarm-peers")).to_have_text("1")
        expect(page.locator("#swarm-tracker")).to_have_text("2 peers")
        expect(page.locator("#swarm-webseed")).to_contain_text("serves the pieces over HTTP")


TOUCH_TARGETS = """() => [...document.querySelectorAll("button, .button, nav a, .brand, input, select, .site-footer a")]
  .filter((el) => el.offsetParent !== null && el.type !== "hidden")
  .map((el) => { const r = el.getBoundingClientRect(); return [el.id || el.textContent.trim() || el.outerHTML.slice(0, 40), r.width, r.height]; })
  .filter(([, w, h]) => w < 44 || h < 44)"""


def test_touch_targets_are_at_least_44_px(browser: Browser, web: Web) -> None:
    info = upload_bytes(web.url, "target.txt", b"touch\n", "text/plain")
    context = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        for fragment in ("#/", "#/login", f"#/file/{info['sha256']}", "#/nowhere"):
            page.goto(f"{web.url}/{fragment}")
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            page.wait_for_load_state("networkidle")
            assert page.evaluate(TOUCH_TARGETS) == [], fragment
    finally:
        context.close()


def test_video_shows_processing_then_offers_a_quality_picker(page: Page, web: Web, tmp_path: Path) -> None:
    # The gateway makes one stream at a time: while it encodes a longer video (taller than the 240p
    # rendition, so encoded rather than copied), the next one waits as "pending" and its playlist
    # answers 202 + Retry-After.
    busy = make_clip(tmp_path / "busy.mp4", seconds=12, width=640, height=480, gop=50)
    clip = make_clip(tmp_path / "fresh.mp4", seconds=4, width=320, height=240, gop=50)
    upload_bytes(web.url, "busy.mp4", busy.read_bytes(), "video/mp4")
    info = upload_bytes(web.url, "fresh.mp4", clip.read_bytes(), "video/mp4")
    waits: list[str | None] = []
    page.on(
        "response",
        lambda r: (
            waits.append(r.headers.get("retry-after"))
            if r.url.endswith("/playlist.m3u8") and r.status == 202
            else None
        ),
    )
    page.add_init_script(
        """window.__notes = [];
        new MutationObserver(() => { const n = document.getElementById("player-note");
          if (n && n.textContent) window.__notes.push(n.textContent); })
          .observe(document, {subtree: true, childList: true, characterData: true});"""
    )
    refused = csp_violations(page)
    page.goto(f"{web.url}/#/file/{info['sha256']}")
    expect(page.locator("video#player")).to_have_attribute("data-player", "hls.js", timeout=60_000)
    page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.3", timeout=30_000)
    assert refused == []  # hls.js's MediaSource and worker live within the CSP
    assert waits and all(w is not None for w in waits)  # 202 + Retry-After while the renditions are made
    assert any(n.startswith("Processing: the gateway is making") for n in page.evaluate("window.__notes"))
    picker = page.get_by_label("Quality")
    expect(picker).to_be_visible()
    assert picker.locator("option").all_inner_texts() == ["Automatic", "240p"]
    picker.select_option(label="240p")


# ---- sessions -----------------------------------------------------------------------------------


def test_session_lives_in_an_httponly_cookie_and_ends_with_a_notice(
    context: BrowserContext, web: Web
) -> None:
    signed = add_nostr_signer(context, web.user)
    page = context.new_page()
    unsafe: list[tuple[str, str | None]] = []
    page.on(
        "request",
        lambda r: (
            unsafe.append((r.url, r.headers.get("x-requested-with")))
            if r.method in ("POST", "PUT", "PATCH", "DELETE")
            else None
        ),
    )
    log_in_with_extension(page, web.url)
    page.get_by_role("link", name="Upload").click()
    page.set_input_files(
        "#file-input", files=[FilePayload(name="c.txt", mimeType="text/plain", buffer=b"c\n")]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator('#upload-list li[data-name="c.txt"]')).to_have_attribute("data-state", "done")
    # Every unsafe request of the page carries the header a cross-site form cannot send.
    assert {url.split("?")[0].removeprefix(web.url) for url, _ in unsafe} >= {
        "/api/auth/login",
        "/api/upload",
    }
    assert all(header == "torrent-gateway" for _, header in unsafe), unsafe
    event = signed[-1]
    assert event["kind"] == 27235 and event["content"] == ""
    assert ["u", f"{web.url}/api/auth/login"] in event["tags"] and ["method", "POST"] in event["tags"]
    assert any(tag[0] == "challenge" for tag in event["tags"])
    cookie = session_cookie(context)
    assert cookie is not None, "the gateway set no tgw_session cookie at login"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    storage = page.evaluate("() => JSON.stringify(Object.assign({}, localStorage, sessionStorage))")
    assert cookie["value"] not in storage and "token" not in storage
    assert page.evaluate("document.cookie") == ""  # the script cannot read the session
    expect(page.locator("#session-npub")).to_have_text(re.compile(r"^npub1[02-9ac-hj-np-z]{4,}…"))
    expect(page.locator("#session-npub")).to_have_attribute("title", web.user.public_key().to_bech32())

    # The session ends behind the page's back (as after a server restart): the next call says so.
    page.get_by_role("link", name="Upload").click()
    context.clear_cookies()
    page.get_by_role("link", name="My files").click()
    expect(page.locator("#session-notice")).to_be_visible()
    expect(page.locator("#session-notice")).to_contain_text("Your session ended")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in with Nostr")  # no stale file list
    expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    page.reload()  # and a page opened later says it too, instead of silently showing logged out
    expect(page.locator("#session-notice")).to_be_visible()


def test_a_non_admin_on_the_admin_page_sees_a_message(context: BrowserContext, web: Web) -> None:
    add_nostr_signer(context, web.user)
    page = context.new_page()
    log_in_with_extension(page, web.url)
    admin_calls: list[str] = []
    page.on("request", lambda r: admin_calls.append(r.url) if "/api/admin/" in r.url else None)
    page.goto(f"{web.url}/#/admin")
    denied = page.locator("#admin-denied")
    expect(denied).to_be_visible()
    expect(denied).to_contain_text("This page is for the gateway's administrators")
    assert page.locator("#admin-content").is_hidden() and admin_calls == []


def test_login_errors_are_plain_and_under_their_card(page: Page, web: Web) -> None:
    page.goto(f"{web.url}/#/login")
    page.get_by_role("button", name="Log in with extension").click()
    expect(page.locator("#login-error-nip07")).to_contain_text("No Nostr signer extension was found")
    expect(page.locator("#login-error-bunker")).to_be_empty()
    expect(page.locator("#login-error-nostrconnect")).to_be_empty()
    page.get_by_label("Bunker URL").fill("https://example.invalid")
    page.get_by_role("button", name="Connect signer").click()
    expect(page.locator("#login-error-bunker")).to_contain_text("That is not a bunker link")
    expect(page.locator("#login-error-nip07")).to_be_empty()  # the other card's error is gone


# ---- keyboard, accessibility, screenshots, budget --------------------------------------------------


def test_keyboard_only_walk(browser: Browser, web: Web) -> None:
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    try:
        add_nostr_signer(context, web.admin)
        page = context.new_page()
        page.goto(f"{web.url}/")
        # Upload: the file picker opens from the keyboard, the Upload button submits.
        tab_to(page, "el => el.id === 'file-input'")
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")
        chooser.value.set_files(
            files=[FilePayload(name="keys.txt", mimeType="text/plain", buffer=b"typed, not clicked\n")]
        )
        tab_to(page, "el => el.id === 'upload-button'")
        page.keyboard.press("Enter")
        expect(page.locator('#upload-list li[data-name="keys.txt"]')).to_have_attribute("data-state", "done")
        # Log in.
        tab_to(page, "el => el.id === 'nav-login'")
        page.keyboard.press("Enter")
        expect(page.locator("#login-title")).to_be_focused()
        tab_to(page, "el => el.id === 'login-extension'")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"#/admin$"))
        expect(page.locator("#admin-content")).to_be_visible()
        # My files: upload one while logged in, then delete it from the list.
        tab_to(page, "el => el.dataset.nav === 'home'")
        page.keyboard.press("Enter")
        # The home view renders again once its lists load; focus taken before that would be lost
        # with the replaced elements (seen on a loaded machine), so wait for the view to settle.
        page.wait_for_load_state("networkidle")
        tab_to(page, "el => el.id === 'file-input'")
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")
        chooser.value.set_files(
            files=[FilePayload(name="admins.txt", mimeType="text/plain", buffer=b"admin's\n")]
        )
        tab_to(page, "el => el.id === 'upload-button'")
        page.keyboard.press("Enter")
        expect(page.locator('#upload-list li[data-name="admins.txt"]')).to_have_attribute(
            "data-state", "done"
        )
        tab_to(page, "el => el.id === 'nav-my'")
        page.keyboard.press("Enter")
        expect(page.locator("#my-files").get_by_role("link", name="admins.txt")).to_be_visible()
        page.once("dialog", lambda dialog: dialog.accept())
        tab_to(page, "el => el.getAttribute('aria-label') === 'Delete admins.txt'")
        page.keyboard.press("Enter")
        expect(page.locator("#my-status")).to_have_text("Deleted admins.txt.")
        # Admin: reach the dashboard and a moderation button.
        tab_to(page, "el => el.id === 'nav-admin'")
        page.keyboard.press("Enter")
        expect(page.locator("#admin-content")).to_be_visible()
        tab_to(page, "el => (el.getAttribute('aria-label') || '').startsWith('Remove and block')")
    finally:
        context.close()


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport_context(
    request: pytest.FixtureRequest, browser: Browser
) -> Iterator[tuple[str, BrowserContext]]:
    name = request.param
    context = browser.new_context(
        viewport=VIEWPORTS[name], is_mobile=name == "phone", has_touch=name == "phone"
    )
    context.set_default_timeout(20_000)
    yield name, context
    context.close()


def visit(page: Page, url: str, ready: Callable[[Page], None] | None = None) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    if ready:
        ready(page)
    page.wait_for_load_state("networkidle")


def test_axe_and_screenshots_logged_out(
    viewport_context: tuple[str, BrowserContext], web: Web, axe_source: str
) -> None:
    size, context = viewport_context
    page = context.new_page()
    text = upload_bytes(web.url, "notes.txt", b"plain notes\n", "text/plain")
    video = upload_bytes(web.url, "clip.mp4", web.media["clip"].read_bytes(), "video/mp4")
    pages = {
        "home": ("#/", None),
        "file": (f"#/file/{text['sha256']}", lambda p: expect(p.locator("#swarm-facts")).to_be_visible()),
        "video": (
            f"#/file/{video['sha256']}",
            lambda p: expect(p.locator("#quality")).to_be_visible(timeout=60_000),
        ),
        "login": ("#/login", None),
        "not-found": ("#/nowhere", None),
    }
    for name, (fragment, ready) in pages.items():
        visit(page, f"{web.url}/{fragment}", ready)
        assert_no_axe_violations(page, axe_source, f"{size} {name}")
        screenshot(page, f"{size}-{name}")
    page.goto(f"{web.url}/#/login")
    page.get_by_role("button", name="Log in with extension").click()  # no extension: an error state
    expect(page.locator("#login-error-nip07")).not_to_be_empty()
    assert_no_axe_violations(page, axe_source, f"{size} login error")

    # The nostrconnect offer (QR code and link).
    page.goto(f"{web.url}/#/login")
    page.get_by_role("button", name="Show connection link").click()
    expect(page.get_by_label("Connection link")).to_have_value(re.compile(r"^nostrconnect://"))
    assert_no_axe_violations(page, axe_source, f"{size} nostrconnect offer")
    screenshot(page, f"{size}-login-nostrconnect")
    # /docs is Swagger UI's own interface (nested controls, low-contrast labels: axe finds serious
    # violations we cannot fix from outside it): pictured, not part of the axe verdict.
    page.goto(f"{web.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Torrent Gateway", timeout=30_000)
    screenshot(page, f"{size}-docs")

    # Upload states: one done, one failed with its Retry button.
    page.goto(f"{web.url}/")
    page.set_input_files(
        "#file-input", files=[FilePayload(name="ok.txt", mimeType="text/plain", buffer=b"ok\n")]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator('#upload-list li[data-name="ok.txt"]')).to_have_attribute("data-state", "done")
    page.route("**/api/upload", lambda route: route.abort("connectionreset"))
    page.set_input_files(
        "#file-input", files=[FilePayload(name="ko.txt", mimeType="text/plain", buffer=b"ko\n")]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator('#upload-list li[data-name="ko.txt"]')).to_have_attribute("data-state", "failed")
    assert_no_axe_violations(page, axe_source, f"{size} uploads done and failed")
    screenshot(page, f"{size}-uploads")


def test_axe_and_screenshots_logged_in(
    viewport_context: tuple[str, BrowserContext], web: Web, axe_source: str, browser: Browser
) -> None:
    size, context = viewport_context
    add_nostr_signer(context, web.user)
    page = context.new_page()
    log_in_with_extension(page, web.url)
    for name, fragment in (("my-files", "#/my"), ("admin-not-allowed", "#/admin"), ("home-logged-in", "#/")):
        visit(page, f"{web.url}/{fragment}")
        assert_no_axe_violations(page, axe_source, f"{size} {name}")
        screenshot(page, f"{size}-{name}")
    context.clear_cookies()  # the session ends behind the page's back
    page.get_by_role("link", name="My files").click()
    expect(page.locator("#session-notice")).to_be_visible()
    assert_no_axe_violations(page, axe_source, f"{size} session ended")
    screenshot(page, f"{size}-session-ended")
    admin_context = browser.new_context(
        viewport=VIEWPORTS[size], is_mobile=size == "phone", has_touch=size == "phone"
    )
    try:
        add_nostr_signer(admin_context, web.admin)
        admin_page = admin_context.new_page()
        log_in_with_extension(admin_page, web.url)
        visit(admin_page, f"{web.url}/#/admin", lambda p: expect(p.locator("#admin-content")).to_be_visible())
        assert_no_axe_violations(admin_page, axe_source, f"{size} admin")
        screenshot(admin_page, f"{size}-admin")
    finally:
        admin_context.close()


def test_first_load_budget_and_no_third_party_requests(browser: Browser, web: Web) -> None:
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    try:
        page = context.new_page()
        sizes: dict[str, int] = {}
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url))

        def measure(response: httpx.Response) -> None:
            if response.request.resource_type in ("script", "stylesheet"):
                sizes[response.url] = len(response.body())

        page.on("response", measure)
        page.goto(f"{web.url}/")
        page.wait_for_load_state("networkidle")
        assert any(url.endswith("/static/js/main.js") for url in sizes)
        assert sum(sizes.values()) < 100_000, sizes
        assert all(url.startswith(web.url) for url in urls), urls
    finally:
        context.close()
