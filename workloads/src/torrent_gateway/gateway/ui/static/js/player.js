// Video playback: wait while the gateway makes the HLS renditions (the playlist answers 202 with
// Retry-After meanwhile), then play them with hls.js (Safari: natively) with a quality picker; fall
// back to the original file, and say plainly when nothing can play. The gateway's poster frame is
// shown before playback as soon as the job reports it made (it is made alongside the renditions).

import { h, sleep } from "./dom.js";
import { state } from "./state.js";

const STREAM_POLL_LIMIT = 600;
const POSTER_POLL_LIMIT = 10;
const HLS_SCRIPT = "/static/vendor/hls.js/hls.min.js";
let hlsScript = null;

export function stopPlayer() {
  const player = state.player;
  state.player = null;
  if (!player) return;
  if (player.hls) player.hls.destroy();
  if (player.element) {
    player.element.pause();
    player.element.removeAttribute("src");
    player.element.load();
  }
}

// hls.js is large: fetched only when a video page needs it, once.
function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsScript) {
    hlsScript = new Promise((resolve) => {
      const script = h("script", { src: HLS_SCRIPT });
      script.addEventListener("load", () => resolve(window.Hls || null));
      script.addEventListener("error", () => { hlsScript = null; resolve(null); });
      document.head.append(script);
    });
  }
  return hlsScript;
}

function qualityPicker(hls, levels, container) {
  const select = h("select", { id: "quality" },
    h("option", { value: "-1" }, "Automatic"),
    ...levels.map((level, index) => h("option", { value: String(index) }, `${level.height}p`)));
  select.addEventListener("change", () => { hls.currentLevel = Number(select.value); });
  container.replaceChildren(h("label", { for: "quality" }, "Quality"), select);
  container.hidden = false;
}

export async function startVideo(video, file, note, controls, token) {
  const playlist = `/api/stream/${file.sha256}/playlist.m3u8`;
  const current = () => token === state.routeToken;
  // `poster: true` in the job's state: the frame is stored. Until the job says so, asking for it
  // would only get a 202 (or a 404 when no frame could be taken), which the browser shows as nothing.
  const showPoster = (job) => {
    if (job.poster === true && current() && !video.poster) {
      video.poster = `/api/stream/${file.sha256}/poster.jpg`;
    }
  };
  const unplayable = (why) => {
    if (!current()) return;
    note.className = "player-note error";
    note.textContent = `This video cannot be played in this browser (${why}). Use the Download button to watch it with another player.`;
    video.dataset.player = "unplayable";
  };
  const direct = (why) => {
    if (!current()) return;
    note.textContent = `Streaming unavailable (${why}); trying the original file…`;
    video.dataset.player = "direct";
    video.addEventListener("error", () => unplayable(why), { once: true });
    video.addEventListener("loadedmetadata", () => {
      if (current()) note.textContent = `Streaming unavailable (${why}); playing the original file.`;
    }, { once: true });
    video.src = file.urls.download;
    state.player = { mode: "direct", element: video };
  };
  // The job makes the poster alongside the renditions, so a stream may be playable a moment
  // before its state says whether it has a poster: ask again until it says (a few times at most),
  // unless playback has begun, when a poster would no longer be seen.
  const askForPoster = async () => {
    for (let attempt = 0; attempt < POSTER_POLL_LIMIT && current() && !video.poster; attempt += 1) {
      let job = {};
      try {
        const answer = await fetch(`/api/stream/${file.sha256}/status`, { cache: "no-store" });
        job = answer.ok ? await answer.json() : {};
      } catch (_) {
        return;
      }
      showPoster(job);
      if (job.poster !== undefined || job.state === "ready" || job.state === "failed") return;
      if (video.played.length) return;
      await sleep(1000);
    }
  };
  state.player = { mode: "waiting", element: video };
  note.textContent = "Preparing the stream…";
  for (let attempt = 0; ; attempt += 1) {
    if (attempt >= STREAM_POLL_LIMIT) return direct("the stream took too long to prepare");
    let response;
    try {
      response = await fetch(playlist, { cache: "no-store" });
    } catch (_) {
      return direct("network error");
    }
    if (!current()) return;
    if (response.status === 200) break;
    let body = {};
    try { body = await response.json(); } catch (_) { body = {}; }
    showPoster(body);
    if (response.status === 202 || response.status === 503) {
      const progress = body.progress ? `, ${Math.round(body.progress * 100)}% done` : "";
      note.textContent = `Processing: the gateway is making the streaming versions of this video (${body.state || "queued"}${progress}). It plays here when they are ready.`;
      video.dataset.player = "processing";
      const wait = Math.min(10, Math.max(1, Number(response.headers.get("Retry-After")) || 2));
      await sleep(wait * 1000);
      if (!current()) return;
      continue;
    }
    return direct(body.detail || `HTTP ${response.status}`);
  }
  askForPoster();
  const Hls = await loadHls();
  if (!current()) return;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({ startPosition: 0 });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) {
        hls.destroy();
        direct(`player error: ${data.details}`);
      }
    });
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
      const sizes = data.levels.map((level) => `${level.height}p`).join(", ");
      note.textContent = `Streaming over HLS (${sizes}).`;
      qualityPicker(hls, data.levels, controls);
    });
    hls.loadSource(playlist);
    hls.attachMedia(video);
    video.dataset.player = "hls.js";
    state.player = { mode: "hls.js", hls, element: video };
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = playlist; // Safari plays HLS natively
    video.dataset.player = "native";
    state.player = { mode: "native", element: video };
    note.textContent = "Streaming over HLS.";
  } else {
    direct("this browser cannot play HLS");
  }
}
