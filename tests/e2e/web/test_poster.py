"""The video poster in a real browser (Debian's Chromium): the file page of a video shows the frame
the gateway took (10 % in) before playback, not the video's first frame, within the page's strict CSP."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.web.conftest import Web, assert_accessible, upload
from tests.integration.hls.test_poster import (
    FIRST_COLOUR,
    POSTER_COLOUR,
    close_to,
    make_two_colour_clip,
    mean_colour,
)

# The middle of the picture: clear of the player's controls along the bottom edge.
PICTURE_MIDDLE = "crop=iw/2:ih/3:iw/4:ih/4"


def test_the_player_shows_the_poster_before_play(page: Page, web: Web, tmp_path: Path) -> None:
    clip = make_two_colour_clip(tmp_path / "colours.mp4", size="320x240")
    info = upload(web.url, clip, "video/mp4")
    poster_url = f"/api/stream/{info['sha256']}/poster.jpg"
    posters: list[tuple[int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            posters.append((r.status, r.headers.get("content-type"))) if r.url.endswith(poster_url) else None
        ),
    )
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(f"{web.url}/#/file/{info['sha256']}")
    video = page.locator("video#player")
    expect(video).to_have_attribute("data-player", "hls.js", timeout=60_000)
    expect(video).to_have_attribute("poster", poster_url, timeout=20_000)
    # The browser fetched and decoded it at the largest rendition's size (the 240p copy: 320x240).
    size = page.evaluate(
        """async (url) => { const image = new Image(); image.src = url; await image.decode();
                            return [image.naturalWidth, image.naturalHeight]; }""",
        poster_url,
    )
    assert size == [320, 240]
    assert (200, "image/jpeg") in posters
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")  # metadata loaded

    # Before play the element shows the poster: red (1 s in), not the blue first frame.
    assert page.evaluate("() => document.getElementById('player').paused")
    shown = mean_colour(video.screenshot(), "png_pipe", PICTURE_MIDDLE)
    assert close_to(shown, POSTER_COLOUR), shown
    assert not close_to(shown, FIRST_COLOUR)
    assert refused == []  # img-src 'self' covers the poster
    assert_accessible(page)

    # Playing replaces the poster with the video itself, which starts blue.
    page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.05", timeout=30_000)
    page.evaluate("() => document.getElementById('player').pause()")
    page.evaluate("() => { document.getElementById('player').currentTime = 0.1; }")
    page.wait_for_function("() => !document.getElementById('player').seeking", timeout=10_000)
    played = mean_colour(video.screenshot(), "png_pipe", PICTURE_MIDDLE)
    assert close_to(played, FIRST_COLOUR), played
