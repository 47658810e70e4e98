"""The web UI in a real browser (Debian's Chromium through Playwright) against a real gateway:
upload with progress, file pages with HLS playback, NIP-07, bunker and nostrconnect logins,
"my files" with delete, the admin dashboard banning a user, and phone-width layouts.
Screenshots go to docs/screenshots/."""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

import httpx
import nostr_sdk
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page, expect

from tests.e2e.web.conftest import (
    Web,
    add_nostr_signer,
    api_login,
    api_login_response,
    assert_accessible,
    screenshot,
    signer_in_thread,
    upload,
    upload_bytes,
)
from tests.integration.nostr.helpers import running_relay


def test_upload_through_the_page_and_see_it_listed(page: Page, web: Web) -> None:
    page.goto(f"{web.url}/")
    assert_accessible(page)
    payload = b"hello from the browser\n" * 40_000  # ~900 KB: several progress events
    page.set_input_files(
        "#file-input", files=[FilePayload(name="hello.txt", mimeType="text/plain", buffer=payload)]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    item = page.locator('#upload-list li[data-name="hello.txt"]')
    expect(item).to_have_attribute("data-state", "done")
    expect(item.locator(".upload-result")).to_contain_text("Uploaded hello.txt")
    expect(item.locator("progress")).to_have_attribute("value", "100")
    expect(item.locator(".upload-text")).to_contain_text(re.compile(r"of 92\d\.\d KB \(100%\)"))
    recent = page.locator("#recent-files")
    expect(recent.get_by_role("link", name="hello.txt").first).to_be_visible()
    screenshot(page, "desktop-home-uploaded")

    item.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("hello.txt")
    download_url = page.locator("#copy-download").input_value()
    assert download_url.startswith(f"{web.url}/api/download/")
    assert httpx.get(download_url).content == payload
    sha = page.locator("#file-sha256").inner_text()
    assert download_url.endswith(sha)
    for field in ("#copy-magnet", "#copy-torrent", "#copy-blossom"):
        assert page.locator(field).input_value()
    assert page.locator("#copy-magnet").input_value().startswith("magnet:?xt=urn:btih:")
    page.get_by_role("button", name="Copy Download URL").click()
    expect(page.locator("#announcer")).to_have_text("Download URL copied to the clipboard")
    assert page.locator("video").count() == 0  # text: no player
    assert_accessible(page)


def test_video_page_plays_through_hls(page: Page, web: Web) -> None:
    info = upload(web.url, web.media["clip"], "video/mp4")
    segments: list[str] = []
    page.on("request", lambda request: segments.append(request.url) if request.url.endswith(".ts") else None)
    page.goto(f"{web.url}/#/file/{info['sha256']}")
    video = page.locator("video#player")
    expect(video).to_have_attribute("data-player", "hls.js", timeout=60_000)
    expect(page.locator("#player-note")).to_contain_text("Streaming over HLS (240p)")
    page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.5", timeout=30_000)
    assert any(f"/api/stream/{info['sha256']}/240p/seg_" in url for url in segments)
    assert page.locator("#copy-hls").input_value().endswith(f"/api/stream/{info['sha256']}/playlist.m3u8")
    assert_accessible(page)
    screenshot(page, "desktop-video-playing")


def test_unstreamable_video_falls_back_to_the_file(page: Page, web: Web) -> None:
    info = upload(web.url, web.media["garbage"], "video/mp4")
    page.goto(f"{web.url}/#/file/{info['sha256']}")
    # Neither HLS nor the original can play: the page says so instead of "playing the original".
    expect(page.locator("video#player")).to_have_attribute("data-player", "unplayable", timeout=60_000)
    expect(page.locator("#player-note")).to_contain_text("This video cannot be played in this browser")
    expect(page.locator("#player-note")).to_contain_text("Invalid data found")
    assert page.locator("video#player").get_attribute("src") == info["urls"]["download"]


def test_audio_page_has_a_player(page: Page, web: Web) -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(16000))  # one second of silence
    info = upload_bytes(web.url, "tone.wav", buffer.getvalue(), "audio/wav")
    page.goto(f"{web.url}/#/file/{info['sha256']}")
    audio = page.get_by_label("Audio: tone.wav")
    expect(audio).to_have_attribute("src", info["urls"]["download"])
    page.wait_for_function("() => document.getElementById('player').duration > 0.9")
    assert page.locator("video").count() == 0


def test_image_page_shows_a_preview(page: Page, web: Web) -> None:
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
        b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    sha = upload_bytes(web.url, "dot.png", png, "image/png")["sha256"]
    page.goto(f"{web.url}/#/file/{sha}")
    preview = page.get_by_role("img", name="Preview of dot.png")
    expect(preview).to_be_visible()
    page.wait_for_function("() => document.getElementById('preview').naturalWidth === 1")


def test_login_with_extension_then_delete_from_my_files(context: BrowserContext, web: Web) -> None:
    signed = add_nostr_signer(context, web.user)
    page = context.new_page()
    page.goto(f"{web.url}/#/login")
    assert_accessible(page)
    screenshot(page, "desktop-login")
    page.get_by_role("button", name="Log in with extension").click()
    expect(page).to_have_url(re.compile(r"#/my$"))
    expect(page.get_by_role("link", name="My files")).to_be_visible()
    expect(page.locator("#session-npub")).to_have_attribute("title", web.user.public_key().to_bech32())
    assert signed and signed[0]["kind"] == 27235
    assert signed[0]["tags"][:2] == [["u", f"{web.url}/api/auth/login"], ["method", "POST"]]

    # Upload while logged in: the file is ours.
    page.get_by_role("link", name="Upload").click()
    page.set_input_files(
        "#file-input", files=[FilePayload(name="mine.txt", mimeType="text/plain", buffer=b"my own file\n")]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    mine_item = page.locator('#upload-list li[data-name="mine.txt"]')
    expect(mine_item).to_have_attribute("data-state", "done")
    sha = mine_item.get_attribute("data-sha256")

    page.get_by_role("link", name="My files").click()
    mine = page.locator("#my-files")
    expect(mine.get_by_role("link", name="mine.txt")).to_be_visible()
    expect(page.locator("#my-stats")).to_contain_text(re.compile(r"^1 file · "))  # not "1 files"
    assert_accessible(page)
    screenshot(page, "desktop-my-files")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete mine.txt").click()
    expect(page.locator("#my-status")).to_have_text("Deleted mine.txt.")
    expect(mine.get_by_role("link", name="mine.txt")).to_have_count(0)
    assert httpx.get(f"{web.url}/api/files/{sha}").status_code == 404  # we were its only owner

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_role("link", name="My files")).to_be_hidden()


def test_login_with_a_bunker_url(page: Page, web: Web, tmp_path: Path) -> None:
    signer_user = nostr_sdk.Keys.generate()
    with running_relay(tmp_path / "relay") as relay, signer_in_thread(relay.url, signer_user) as signer:
        page.goto(f"{web.url}/#/login")
        page.get_by_label("Bunker URL").fill(signer.bunker_url)
        page.get_by_role("button", name="Connect signer").click()
        expect(page).to_have_url(re.compile(r"#/my$"), timeout=30_000)
        expect(page.locator("#session-npub")).to_have_attribute("title", signer_user.public_key().to_bech32())
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Bunker URL").fill("https://not-a-bunker")
    page.get_by_role("button", name="Connect signer").click()
    expect(page.locator("#login-error-bunker")).to_contain_text("bunker://")
    expect(page.locator("#login-error-nip07")).to_be_empty()  # only under the card that failed


def test_login_with_a_signer_app_through_nostrconnect(page: Page, web: Web) -> None:
    signer_user = nostr_sdk.Keys.generate()
    with signer_in_thread(web.relay_url, signer_user) as signer:
        page.goto(f"{web.url}/#/login")
        page.get_by_role("button", name="Show connection link").click()
        link = page.get_by_label("Connection link")
        expect(link).to_have_value(re.compile(r"^nostrconnect://[0-9a-f]{64}\?relay="))
        uri = link.input_value()
        expect(page.get_by_role("link", name="Open in signer app")).to_have_attribute("href", uri)
        qr = page.get_by_role("img", name="QR code of the nostrconnect link")
        expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
        assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # the QR code renders
        screenshot(page, "desktop-login-nostrconnect")
        signer.answer_nostrconnect(uri)
        expect(page).to_have_url(re.compile(r"#/my$"), timeout=30_000)
        expect(page.locator("#session-npub")).to_have_attribute("title", signer_user.public_key().to_bech32())
    page.get_by_role("button", name="Log out").click()


def test_admin_bans_a_user(context: BrowserContext, web: Web) -> None:
    # A user with an upload, through the API.
    user_token = api_login(web.url, web.user)
    response = httpx.put(
        f"{web.url}/api/upload",
        params={"name": "spam.txt"},
        content=b"buy now\n",
        headers={"authorization": f"Bearer {user_token}", "X-Requested-With": "torrent-gateway"},
    )
    assert response.status_code in (200, 201), response.text
    user_hex = web.user.public_key().to_hex()

    add_nostr_signer(context, web.admin)
    page = context.new_page()
    page.goto(f"{web.url}/#/login")
    page.get_by_role("button", name="Log in with extension").click()
    expect(page).to_have_url(re.compile(r"#/admin$"))
    expect(page.get_by_role("link", name="Admin")).to_be_visible()

    health = page.locator("#health-table")
    for component in ("storage", "state", "hls"):
        expect(health.get_by_role("rowheader", name=component)).to_be_visible()
    expect(page.locator("#alerts")).to_contain_text("No alerts firing")
    row = page.locator(f'#users-table tr[data-pubkey="{user_hex}"]')
    expect(row).to_contain_text("Active")
    expect(page.locator("#admin-uploads")).to_contain_text("spam.txt")
    assert_accessible(page)
    screenshot(page, "desktop-admin")

    page.once("dialog", lambda dialog: dialog.accept("spam"))
    row.get_by_role("button", name=f"Ban {web.user.public_key().to_bech32()}").click()
    expect(page.locator("#admin-status")).to_contain_text("Banned")
    expect(row).to_contain_text("Banned")
    expect(row.get_by_role("button", name=f"Unban {web.user.public_key().to_bech32()}")).to_be_visible()
    expect(page.locator(f'#bans li[data-pubkey="{user_hex}"]')).to_contain_text("spam")
    expect(page.locator("#audit")).to_contain_text("ban")
    screenshot(page, "desktop-admin-banned")

    # A component going down shows as an alert on the dashboard.
    web.canary["healthy"] = False
    try:
        page.reload()
        expect(page.locator("#alerts")).to_contain_text("Firing: canary (score 0 < 50)")
        expect(page.locator("#health-table").get_by_role("row", name=re.compile("canary"))).to_contain_text(
            "down"
        )
        expect(page.locator("#health-summary")).to_contain_text("degraded")
    finally:
        web.canary["healthy"] = True

    # The ban is real: the user's session is gone and new logins are refused.
    assert httpx.get(
        f"{web.url}/api/auth/me", headers={"authorization": f"Bearer {user_token}"}
    ).status_code in (
        401,
        403,
    )
    assert api_login_response(web.url, web.user).status_code == 403


def test_pages_fit_a_phone_screen(browser: Browser, web: Web) -> None:
    info = upload(web.url, web.media["clip"], "video/mp4")
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        for name, fragment in (
            ("phone-home", "#/"),
            ("phone-file", f"#/file/{info['sha256']}"),
            ("phone-login", "#/login"),
        ):
            page.goto(f"{web.url}/{fragment}")
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            if name == "phone-file":
                expect(page.locator("video#player")).to_have_attribute(
                    "data-player", "hls.js", timeout=60_000
                )
            assert_accessible(page)  # includes: nothing wider than the screen
            screenshot(page, name)
    finally:
        context.close()
