// Torrent Gateway web UI: a single page without a framework or CDN.
// Views are selected by the URL fragment (#/, #/file/<sha256>, #/my, #/login, #/admin) so every page
// has a shareable address (the API's "page" URL is /#/file/<sha256>). All text from the server or
// from users goes into the DOM as text nodes, never as HTML.
"use strict";

const SESSION_KEY = "tgw-session";
const HEALTH_ALERT_SCORE = 50;
const STREAM_POLL_LIMIT = 600;
const HLS_SCRIPT = "/static/vendor/hls.js/hls.min.js";

const state = {
  session: null, // {token, pubkey, expires_at, is_admin}
  routeToken: 0, // bumped on every navigation; async work of an old view checks it and stops
  player: null, // {mode, hls?}
  upload: null, // the XMLHttpRequest of an upload in flight
};

// ---------------------------------------------------------------------------------------------
// small helpers

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "value") node.value = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function humanSize(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function shortKey(hex) {
  return hex && hex.length > 20 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex || "";
}

function when(seconds) {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleString();
}

function announce(message) {
  const region = $("announcer");
  region.textContent = "";
  // A fresh text node after a tick makes screen readers announce repeated messages too.
  setTimeout(() => { region.textContent = message; }, 30);
}

function mediaKind(type) {
  const major = String(type || "").split("/")[0];
  return ["video", "audio", "image"].includes(major) ? major : null;
}

// ---------------------------------------------------------------------------------------------
// API access

async function api(path, { method = "GET", body = undefined, auth = true } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && state.session) headers.Authorization = `Bearer ${state.session.token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    return { ok: false, status: 0, data: { detail: "network error: the gateway cannot be reached" } };
  }
  let data = null;
  const text = await response.text();
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (response.status === 401 && auth && state.session) {
    clearSession();
    announce("Your session has ended; please log in again.");
  }
  return { ok: response.ok, status: response.status, data, headers: response.headers };
}

function reason(result) {
  const detail = result.data && result.data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return `HTTP ${result.status}`;
}

// ---------------------------------------------------------------------------------------------
// session

function loadSession() {
  try {
    const saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (saved && saved.token && (!saved.expires_at || saved.expires_at * 1000 > Date.now())) state.session = saved;
  } catch (_) { state.session = null; }
  renderSession();
}

function saveSession(session) {
  state.session = session;
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  renderSession();
}

function clearSession() {
  state.session = null;
  localStorage.removeItem(SESSION_KEY);
  renderSession();
}

function renderSession() {
  const session = state.session;
  $("nav-login").hidden = Boolean(session);
  $("logout-button").hidden = !session;
  $("nav-my").hidden = !session;
  $("nav-admin").hidden = !(session && session.is_admin);
  $("session-info").hidden = !session;
  $("session-pubkey").textContent = session ? shortKey(session.pubkey) : "";
  $("session-pubkey").title = session ? session.pubkey : "";
}

async function checkSession() {
  if (!state.session) return;
  const result = await api("/api/auth/me");
  if (result.ok) {
    saveSession({ ...state.session, is_admin: Boolean(result.data.is_admin) });
  }
}

async function logout() {
  if (state.session) await api("/api/auth/logout", { method: "POST" });
  clearSession();
  announce("Logged out.");
  location.hash = "#/";
}

// ---------------------------------------------------------------------------------------------
// routing

const routes = [
  [/^#?\/?$/, "home", showHome],
  [/^#\/file\/([0-9a-fA-F]{64})$/, "file", showFile],
  [/^#\/my$/, "my", showMy],
  [/^#\/login$/, "login", showLogin],
  [/^#\/admin$/, "admin", showAdmin],
];

function stopPlayer() {
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

function route(initial = false) {
  state.routeToken += 1;
  stopPlayer();
  const hash = location.hash || "#/";
  let match = null;
  for (const [pattern, name, handler] of routes) {
    const found = hash.match(pattern);
    if (found) { match = { name, handler, args: found.slice(1) }; break; }
  }
  if (!match) match = { name: "home", handler: showHome, args: [] };
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${match.name}`;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === match.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  match.handler(...match.args);
  if (!initial) {
    const heading = document.querySelector(`#view-${match.name} h1`);
    if (heading) heading.focus();
  }
}

function setTitle(text) {
  document.title = text ? `${text} · Torrent Gateway` : "Torrent Gateway";
}

// ---------------------------------------------------------------------------------------------
// home: upload + recent files

function fileItem(file, extra) {
  const link = h("a", { href: `#/file/${file.sha256}`, class: "name" }, file.name);
  const meta = h("div", { class: "meta" }, `${humanSize(file.size)} · ${file.type} · ${when(file.created)}`);
  return h("li", { dataset: { sha256: file.sha256 } }, h("div", { class: "row" }, h("div", {}, link, meta), extra || null));
}

async function loadRecent() {
  const token = state.routeToken;
  const result = await api("/api/files?limit=20", { auth: false });
  if (token !== state.routeToken || !result.ok) return;
  const files = result.data.files || [];
  $("recent-files").replaceChildren(...files.map((file) => fileItem(file)));
  $("recent-empty").hidden = files.length > 0;
}

function showHome() {
  setTitle("");
  loadRecent();
}

function uploadFile(event) {
  event.preventDefault();
  const input = $("file-input");
  if (!input.files.length || state.upload) return;
  const file = input.files[0];
  const box = $("upload-progress-box");
  const progress = $("upload-progress");
  const progressText = $("upload-progress-text");
  const status = $("upload-status");
  const button = $("upload-button");
  const cancel = $("upload-cancel");
  const form = new FormData();
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  state.upload = xhr;
  xhr.open("POST", "/api/upload");
  if (state.session) xhr.setRequestHeader("Authorization", `Bearer ${state.session.token}`);
  box.hidden = false;
  progress.value = 0;
  progressText.textContent = `0 of ${humanSize(file.size)}`;
  status.textContent = `Uploading ${file.name}…`;
  button.disabled = true;
  cancel.hidden = false;
  const done = () => { state.upload = null; button.disabled = false; cancel.hidden = true; };
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    progress.value = (100 * e.loaded) / e.total;
    progressText.textContent = `${humanSize(e.loaded)} of ${humanSize(e.total)} (${Math.floor(progress.value)}%)`;
  };
  xhr.onload = () => {
    done();
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
    if ((xhr.status === 200 || xhr.status === 201) && body) {
      progress.value = 100;
      status.replaceChildren(
        `Uploaded ${body.name}. `,
        h("a", { href: `#/file/${body.sha256}` }, `Open the page of ${body.name}`),
      );
      input.value = "";
      loadRecent();
    } else {
      const detail = body && typeof body.detail === "string" ? body.detail : `HTTP ${xhr.status}`;
      status.textContent = `Upload failed: ${detail}`;
    }
  };
  xhr.onerror = () => { done(); status.textContent = "Upload failed: network error"; };
  xhr.onabort = () => { done(); status.textContent = "Upload cancelled."; box.hidden = true; };
  xhr.send(form);
}

// ---------------------------------------------------------------------------------------------
// file page

function copyField(label, value, id) {
  const input = h("input", { id, type: "text", readonly: true, value, spellcheck: "false" });
  const button = h("button", { type: "button", class: "secondary small", "aria-label": `Copy ${label}` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch (_) {
      input.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    announce(`${label} copied to the clipboard`);
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  input.addEventListener("focus", () => input.select());
  return h("div", { class: "copy-field" }, h("label", { for: id }, label), h("div", { class: "copy-row" }, input, button));
}

async function showFile(sha256) {
  const sha = sha256.toLowerCase();
  const token = state.routeToken;
  const detail = $("file-detail");
  $("file-title").textContent = "File";
  detail.replaceChildren(h("p", { role: "status" }, "Loading…"));
  const result = await api(`/api/files/${sha}`, { auth: false });
  if (token !== state.routeToken) return;
  if (!result.ok) {
    $("file-title").textContent = "File not found";
    detail.replaceChildren(h("p", { class: "error", role: "alert" }, reason(result)));
    return;
  }
  const file = result.data;
  setTitle(file.name);
  $("file-title").textContent = file.name;
  const urls = file.urls || {};
  const kind = mediaKind(file.type);
  const player = h("div", { class: "player" });
  const note = h("p", { class: "player-note", id: "player-note", role: "status", "aria-live": "polite" });
  const facts = h(
    "dl",
    { class: "details" },
    h("dt", {}, "Size"), h("dd", {}, `${humanSize(file.size)} (${file.size} bytes)`),
    h("dt", {}, "Type"), h("dd", {}, file.type),
    h("dt", {}, "SHA-256"), h("dd", {}, h("code", { id: "file-sha256" }, file.sha256)),
    h("dt", {}, "Infohash"), h("dd", {}, h("code", {}, file.infohash || "")),
    h("dt", {}, "Uploaded"), h("dd", {}, when(file.created)),
  );
  const links = h(
    "div",
    { class: "link-row" },
    h("a", { href: urls.download, class: "button", download: file.name }, "Download"),
    urls.torrent ? h("a", { href: urls.torrent }, ".torrent file") : null,
    file.magnet ? h("a", { href: file.magnet }, "Magnet link") : null,
  );
  const fields = [
    copyField("Download URL", urls.download, "copy-download"),
    file.magnet ? copyField("Magnet link", file.magnet, "copy-magnet") : null,
    urls.torrent ? copyField("Torrent URL", urls.torrent, "copy-torrent") : null,
    urls.blossom ? copyField("Blossom URL", urls.blossom, "copy-blossom") : null,
    urls.webseed ? copyField("WebSeed URL", urls.webseed, "copy-webseed") : null,
  ];
  if (kind === "video") {
    fields.splice(1, 0, copyField("HLS stream URL", new URL(`/api/stream/${file.sha256}/playlist.m3u8`, location.href).href, "copy-hls"));
  }
  detail.replaceChildren(player, note, facts, links, h("h2", {}, "Links"), ...fields.filter(Boolean));
  if (kind === "video") {
    const video = h("video", { controls: true, playsinline: true, preload: "metadata", "aria-label": `Video: ${file.name}`, id: "player" });
    player.append(video);
    startVideo(video, file, note, token);
  } else if (kind === "audio") {
    const audio = h("audio", { controls: true, preload: "metadata", src: urls.download, "aria-label": `Audio: ${file.name}`, id: "player" });
    state.player = { mode: "direct", element: audio };
    player.append(audio);
  } else if (kind === "image") {
    player.append(h("img", { src: urls.download, alt: `Preview of ${file.name}`, id: "preview", loading: "lazy" }));
  } else {
    player.remove();
  }
}

let hlsScript = null;

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

async function startVideo(video, file, note, token) {
  const playlist = `/api/stream/${file.sha256}/playlist.m3u8`;
  const direct = (why) => {
    if (token !== state.routeToken) return;
    note.textContent = `Streaming unavailable (${why}); playing the original file instead.`;
    video.src = file.urls.download;
    video.dataset.player = "direct";
    state.player = { mode: "direct", element: video };
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
    if (token !== state.routeToken) return;
    if (response.status === 200) break;
    let body = {};
    try { body = await response.json(); } catch (_) { body = {}; }
    if (response.status === 202 || response.status === 503) {
      const progress = body.progress ? ` ${Math.round(body.progress * 100)}%` : "";
      note.textContent = `Preparing the stream (${body.state || "pending"})${progress}…`;
      const wait = Math.min(10, Math.max(1, Number(response.headers.get("Retry-After")) || 2));
      await sleep(wait * 1000);
      if (token !== state.routeToken) return;
      continue;
    }
    return direct(body.detail || `HTTP ${response.status}`);
  }
  const Hls = await loadHls();
  if (token !== state.routeToken) return;
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

// ---------------------------------------------------------------------------------------------
// my files

async function showMy() {
  setTitle("My files");
  if (!state.session) {
    location.hash = "#/login";
    return;
  }
  const token = state.routeToken;
  const [stats, files] = await Promise.all([api("/api/users/me/stats"), api("/api/users/me/files?limit=100")]);
  if (token !== state.routeToken) return;
  if (!files.ok) {
    $("my-status").textContent = `Cannot list your files: ${reason(files)}`;
    return;
  }
  if (stats.ok) {
    const s = stats.data;
    $("my-stats").textContent = `${s.files} files · ${humanSize(s.bytes)} · ${s.downloads} downloads`;
  }
  const list = files.data.files || [];
  $("my-files").replaceChildren(...list.map((file) => fileItem(file, deleteButton(file))));
  $("my-empty").hidden = list.length > 0;
}

function deleteButton(file) {
  return h("button", {
    type: "button",
    class: "danger small",
    "aria-label": `Delete ${file.name}`,
    onclick: async (event) => {
      if (!window.confirm(`Delete ${file.name}? Other owners keep their copy.`)) return;
      event.target.disabled = true;
      const result = await api(`/api/users/me/files/${file.sha256}`, { method: "DELETE" });
      if (result.ok) {
        const item = event.target.closest("li");
        if (item) item.remove();
        $("my-status").textContent = `Deleted ${file.name}.`;
        $("my-empty").hidden = $("my-files").children.length > 0;
        const stats = await api("/api/users/me/stats");
        if (stats.ok) $("my-stats").textContent = `${stats.data.files} files · ${humanSize(stats.data.bytes)} · ${stats.data.downloads} downloads`;
      } else {
        event.target.disabled = false;
        $("my-status").textContent = `Could not delete ${file.name}: ${reason(result)}`;
      }
    },
  }, "Delete");
}

// ---------------------------------------------------------------------------------------------
// login

function showLogin() {
  setTitle("Log in");
  $("login-error").textContent = "";
  $("login-status").textContent = state.session ? `You are logged in as ${shortKey(state.session.pubkey)}.` : "";
}

async function finishLogin(result) {
  if (!result.ok) {
    $("login-status").textContent = "";
    $("login-error").textContent = `Login failed: ${reason(result)}`;
    return;
  }
  saveSession(result.data);
  $("login-error").textContent = "";
  $("login-status").textContent = `Logged in as ${shortKey(result.data.pubkey)}.`;
  announce("Logged in.");
  location.hash = result.data.is_admin ? "#/admin" : "#/my";
}

async function loginWithExtension() {
  $("login-error").textContent = "";
  if (!window.nostr || typeof window.nostr.signEvent !== "function") {
    $("login-error").textContent = "No Nostr signer extension (NIP-07) was found in this browser.";
    return;
  }
  const button = $("login-extension");
  button.disabled = true;
  try {
    $("login-status").textContent = "Asking the gateway for a challenge…";
    const issued = await api("/api/auth/challenge", { auth: false });
    if (!issued.ok) return finishLogin(issued);
    const pubkey = await window.nostr.getPublicKey();
    $("login-status").textContent = "Waiting for your extension to sign…";
    const event = await window.nostr.signEvent({
      kind: issued.data.kind || 22242,
      created_at: Math.floor(Date.now() / 1000),
      tags: [["challenge", issued.data.challenge]],
      content: "",
      pubkey,
    });
    const result = await api("/api/auth/login", {
      method: "POST",
      auth: false,
      body: { auth_type: "nip07", event, challenge: issued.data.challenge },
    });
    await finishLogin(result);
  } catch (error) {
    $("login-status").textContent = "";
    $("login-error").textContent = `Login failed: ${error && error.message ? error.message : error}`;
  } finally {
    button.disabled = false;
  }
}

async function loginWithBunker(event) {
  event.preventDefault();
  const input = $("bunker-url");
  const url = input.value.trim();
  if (!url.startsWith("bunker://")) {
    $("login-error").textContent = "A bunker URL starts with bunker://";
    input.focus();
    return;
  }
  const button = $("login-bunker");
  button.disabled = true;
  $("login-error").textContent = "";
  $("login-status").textContent = "Connecting to your signer; approve the request there…";
  try {
    await finishLogin(await api("/api/auth/login", { method: "POST", auth: false, body: { auth_type: "nip46", bunker_url: url } }));
  } finally {
    button.disabled = false;
  }
}

// A nostrconnect login waits on the gateway for the signer app; the page polls its outcome.
let nostrconnectPoll = null;

function stopNostrconnect() {
  if (nostrconnectPoll !== null) clearTimeout(nostrconnectPoll);
  nostrconnectPoll = null;
}

async function loginWithNostrconnect() {
  stopNostrconnect();
  const button = $("login-nostrconnect");
  button.disabled = true;
  $("login-error").textContent = "";
  const started = await api("/api/auth/nostrconnect", { method: "POST", auth: false });
  button.disabled = false;
  if (!started.ok) return finishLogin(started);
  const offer = started.data;
  $("nostrconnect-uri").value = offer.uri;
  $("nostrconnect-open").href = offer.uri;
  $("nostrconnect-qr").src = offer.qr;
  $("nostrconnect-offer").hidden = false;
  $("login-status").textContent = "Scan or open the link with your signer app, then approve the login there…";
  const check = async () => {
    nostrconnectPoll = null;
    const result = await api(`/api/auth/nostrconnect/${encodeURIComponent(offer.id)}`, { auth: false });
    if (result.status === 202) {
      if (location.hash === "#/login") nostrconnectPoll = setTimeout(check, 1000);
      return;
    }
    $("nostrconnect-offer").hidden = true;
    await finishLogin(result);
  };
  nostrconnectPoll = setTimeout(check, 1000);
}

// ---------------------------------------------------------------------------------------------
// admin

async function showAdmin() {
  setTitle("Administration");
  if (!state.session) {
    location.hash = "#/login";
    return;
  }
  const token = state.routeToken;
  $("admin-status").textContent = "Loading…";
  const [health, diagnostics, users, bans, reports, uploads, audit] = await Promise.all([
    api("/api/health", { auth: false }),
    api("/api/diagnostics", { auth: false }),
    api("/api/admin/users?limit=100"),
    api("/api/admin/bans"),
    api("/api/admin/reports?limit=50"),
    api("/api/admin/uploads?limit=20"),
    api("/api/admin/audit?limit=50"),
  ]);
  if (token !== state.routeToken) return;
  if (!users.ok) {
    $("admin-status").textContent = `Cannot load the admin data: ${reason(users)}`;
    return;
  }
  $("admin-status").textContent = "";
  renderHealth(health, diagnostics);
  renderUsers(users.data.users || []);
  renderBans(bans.ok ? bans.data.bans || [] : []);
  renderReports(reports.ok ? reports.data.reports || [] : []);
  renderUploads(uploads.ok ? uploads.data.files || [] : []);
  renderAudit(audit.ok ? audit.data.entries || [] : []);
}

function renderHealth(result, diagnostics) {
  const body = result.data || {};
  const threshold = Number.isFinite(body.threshold) ? body.threshold : HEALTH_ALERT_SCORE;
  const components = Object.values(body.components || {});
  const cls = body.status === "ok" ? "ok" : body.status === "degraded" ? "warn" : "error";
  $("health-summary").replaceChildren(
    "Overall: ",
    h("strong", { class: cls }, `${body.status || "unknown"}`),
    ` · score ${body.score ?? "?"} / 100 · alert threshold ${threshold}`,
  );
  const state = (c) => (c.enabled === false ? ["off", "disabled"] : c.ok ? ["good", "up"] : ["bad", "down"]);
  $("health-table").tBodies[0].replaceChildren(...components.map((c) => h(
    "tr", {},
    h("th", { scope: "row" }, c.name),
    h("td", {}, c.enabled === false ? "—" : String(c.score)),
    h("td", {}, h("span", { class: `badge ${state(c)[0]}` }, state(c)[1])),
    h("td", { class: "meta" }, c.error ? `error: ${c.error}` : c.latency_ms !== undefined ? `${c.latency_ms} ms` : ""),
  )));
  // Alerts the health monitor raised, plus whatever scores under the threshold right now (the
  // monitor may not run in this process, or may not have seen it yet).
  const firing = [...new Set([
    ...(body.alerts && Array.isArray(body.alerts.firing) ? body.alerts.firing : []),
    ...components.filter((c) => c.enabled !== false && (!c.ok || c.score < threshold)).map((c) => c.name),
  ])];
  const recent = diagnostics && diagnostics.ok && diagnostics.data.monitor
    ? diagnostics.data.monitor.recent_alerts || []
    : [];
  const items = firing.map((name) => {
    const c = (body.components || {})[name] || {};
    return h("li", { class: "error" }, `Firing: ${name} (score ${c.score ?? "?"} < ${threshold})${c.error ? ` — ${c.error}` : ""}`);
  });
  for (const alert of recent.slice().reverse().slice(0, 10)) {
    items.push(h("li", { class: alert.status === "firing" ? "warn" : "meta" },
      `${when(alert.at)} · ${alert.status}: ${alert.message || alert.component}`));
  }
  if (!firing.length) items.unshift(h("li", { class: "ok" }, "No alerts firing: every component is healthy."));
  $("alerts").replaceChildren(...items);
}

async function adminAction(path, options, message) {
  const result = await api(path, options);
  $("admin-status").textContent = result.ok ? message : `Failed: ${reason(result)}`;
  if (result.ok) announce(message);
  await showAdmin();
  $("admin-status").textContent = result.ok ? message : `Failed: ${reason(result)}`;
}

function banButton(pubkey) {
  return h("button", {
    type: "button",
    class: "danger small",
    "aria-label": `Ban ${pubkey}`,
    onclick: () => {
      const why = window.prompt(`Ban ${shortKey(pubkey)}? Give a reason (kept in the audit log):`, "");
      if (why === null) return;
      adminAction(`/api/admin/users/${pubkey}/ban`, { method: "POST", body: { reason: why } }, `Banned ${shortKey(pubkey)}.`);
    },
  }, "Ban");
}

function unbanButton(pubkey) {
  return h("button", {
    type: "button",
    class: "secondary small",
    "aria-label": `Unban ${pubkey}`,
    onclick: () => adminAction(`/api/admin/users/${pubkey}/unban`, { method: "POST" }, `Unbanned ${shortKey(pubkey)}.`),
  }, "Unban");
}

function removeButton(sha256, name) {
  return h("button", {
    type: "button",
    class: "danger small",
    "aria-label": `Remove and block ${name || sha256}`,
    onclick: () => {
      const why = window.prompt(`Remove ${name || shortKey(sha256)} for everyone and block it? Reason:`, "");
      if (why === null) return;
      adminAction(
        `/api/admin/files/${sha256}?reason=${encodeURIComponent(why)}`,
        { method: "DELETE" },
        `Removed and blocked ${name || shortKey(sha256)}.`,
      );
    },
  }, "Remove & block");
}

function renderUsers(users) {
  const rows = users.map((user) => h(
    "tr", { dataset: { pubkey: user.pubkey } },
    h("th", { scope: "row" }, h("code", { title: user.pubkey }, shortKey(user.pubkey))),
    h("td", {}, String(user.files)),
    h("td", {}, humanSize(user.bytes)),
    h("td", {}, String(user.downloads)),
    h("td", {}, user.banned ? h("span", { class: "badge bad" }, "Banned")
      : user.is_admin ? h("span", { class: "badge admin" }, "Admin") : h("span", { class: "badge good" }, "Active")),
    h("td", {}, user.is_admin ? "" : user.banned ? unbanButton(user.pubkey) : banButton(user.pubkey)),
  ));
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: "6" }, "No uploaders yet.")));
  $("users-table").tBodies[0].replaceChildren(...rows);
}

function renderBans(bans) {
  $("bans").replaceChildren(...(bans.length ? bans.map((ban) => h(
    "li", { dataset: { pubkey: ban.pubkey } },
    h("div", { class: "row" },
      h("div", {}, h("code", { title: ban.pubkey }, shortKey(ban.pubkey)),
        h("div", { class: "meta" }, `${ban.reason ? `“${ban.reason}” · ` : ""}${when(ban.at)}`)),
      unbanButton(ban.pubkey)),
  )) : [h("li", { class: "meta" }, "Nobody is banned.")]));
}

function renderReports(reports) {
  $("reports").replaceChildren(...(reports.length ? reports.map((entry) => {
    const report = entry.report || {};
    const event = report.event || {};
    return h(
      "li", {},
      h("div", {}, h("a", { href: `#/file/${report.sha256}` }, shortKey(report.sha256 || "")), ` — ${report.reason || "other"}`),
      h("div", { class: "meta" }, `by ${shortKey(event.pubkey || "")} · ${when(entry.received)}${event.content ? ` · “${event.content}”` : ""}`),
      report.sha256 ? removeButton(report.sha256, null) : null,
    );
  }) : [h("li", { class: "meta" }, "No reports.")]));
}

function renderUploads(files) {
  $("admin-uploads").replaceChildren(...(files.length ? files.map((file) => h(
    "li", { dataset: { sha256: file.sha256 } },
    h("div", { class: "row" },
      h("div", {}, h("a", { href: `#/file/${file.sha256}` }, file.name),
        h("div", { class: "meta" }, `${humanSize(file.size)} · ${file.type} · owners: ${(file.owners || []).map(shortKey).join(", ") || "anonymous"}`)),
      removeButton(file.sha256, file.name)),
  )) : [h("li", { class: "meta" }, "No uploads yet.")]));
}

function renderAudit(entries) {
  $("audit").replaceChildren(...(entries.length ? entries.map((entry) => h(
    "li", {},
    h("strong", {}, entry.action || "?"), " ", h("code", {}, shortKey(entry.target || "")),
    h("div", { class: "meta" }, `by ${shortKey(entry.admin || "")} · ${when(entry.time)}${entry.details && entry.details.reason ? ` · “${entry.details.reason}”` : ""}`),
  )) : [h("li", { class: "meta" }, "No admin actions yet.")]));
}

// ---------------------------------------------------------------------------------------------
// start

function start() {
  loadSession();
  $("upload-form").addEventListener("submit", uploadFile);
  $("upload-cancel").addEventListener("click", () => { if (state.upload) state.upload.abort(); });
  $("login-extension").addEventListener("click", loginWithExtension);
  $("bunker-form").addEventListener("submit", loginWithBunker);
  $("login-nostrconnect").addEventListener("click", loginWithNostrconnect);
  $("logout-button").addEventListener("click", logout);
  window.addEventListener("hashchange", () => route(false));
  route(true);
  checkSession().then(() => renderSession());
}

start();
