// The page of one file: player or preview, facts, download links with copy buttons, and the swarm
// (seeds, peers, WebSeed, DHT) from GET /api/peers/<infohash>.

import { api, reason } from "./api.js";
import { $, announce, h, humanSize, mediaKind, plural, when } from "./dom.js";
import { startVideo } from "./player.js";
import { state } from "./state.js";

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

function sourceText(source, found) {
  if (!source) return "not reported";
  if (!source.ok) return `not available here (${source.error || "unknown reason"})`;
  return found;
}

async function loadSwarm(file, box, token) {
  if (!file.infohash) {
    box.replaceChildren(h("p", { class: "meta" }, "This file has no torrent, so it has no swarm."));
    return;
  }
  const result = await api(`/api/peers/${file.infohash}`, { auth: false });
  if (token !== state.routeToken) return;
  if (!result.ok) {
    box.replaceChildren(h("p", { class: "meta" }, `Swarm information is not available on this gateway (${reason(result)}).`));
    return;
  }
  // The WebSeed is listed as a peer with a URL; seeds and peers are BitTorrent clients (an address).
  const peers = (result.data.peers || []).filter((peer) => peer.ip);
  const seeds = peers.filter((peer) => peer.seed === true).length;
  const sources = result.data.sources || {};
  box.replaceChildren(h(
    "dl", { class: "details", id: "swarm-facts" },
    h("dt", {}, "Seeds"), h("dd", { id: "swarm-seeds" }, String(seeds)),
    h("dt", {}, "Peers"), h("dd", { id: "swarm-peers" }, String(peers.length - seeds)),
    h("dt", {}, "WebSeed"), h("dd", { id: "swarm-webseed" }, sources.webseed && sources.webseed.ok
      ? "this gateway serves the pieces over HTTP to every BitTorrent client" : "not offered"),
    h("dt", {}, "Tracker"), h("dd", { id: "swarm-tracker" }, sourceText(sources.tracker, plural(sources.tracker && sources.tracker.count, "peer"))),
    h("dt", {}, "DHT"), h("dd", { id: "swarm-dht" }, sourceText(sources.dht, plural(sources.dht && sources.dht.count, "peer"))),
  ));
}

export async function showFile(sha256) {
  const sha = sha256.toLowerCase();
  const token = state.routeToken;
  const detail = $("file-detail");
  $("file-title").textContent = "File";
  detail.replaceChildren(h("p", { role: "status" }, "Loading…"));
  const result = await api(`/api/files/${sha}`, { auth: false });
  if (token !== state.routeToken) return;
  if (!result.ok) {
    $("file-title").textContent = result.status === 404 ? "File not found" : "File unavailable";
    detail.replaceChildren(h("p", { class: "error", role: "alert" },
      result.status === 404 ? "There is no file with this address on this gateway (it may have been deleted)." : reason(result)));
    return;
  }
  const file = result.data;
  document.title = `${file.name} · Torrent Gateway`;
  $("file-title").textContent = file.name;
  const urls = file.urls || {};
  const kind = mediaKind(file.type);
  const player = h("div", { class: "player" });
  const note = h("p", { class: "player-note", id: "player-note", role: "status", "aria-live": "polite" });
  const controls = h("div", { class: "player-controls", id: "player-controls", hidden: true });
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
    h("a", { href: urls.download, class: "button", download: file.name, id: "download-button" }, "Download"),
    urls.torrent ? h("a", { href: urls.torrent, class: "button secondary" }, ".torrent file") : null,
    file.magnet ? h("a", { href: file.magnet, class: "button secondary" }, "Magnet link") : null,
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
  const swarm = h("div", { id: "swarm" }, h("p", { class: "meta" }, "Asking the swarm…"));
  detail.replaceChildren(player, note, controls, links, facts, h("h2", {}, "Swarm"), swarm, h("h2", {}, "Links"), ...fields.filter(Boolean));
  if (kind === "video") {
    const video = h("video", { controls: true, playsinline: true, preload: "metadata", "aria-label": `Video: ${file.name}`, id: "player" });
    player.append(video);
    startVideo(video, file, note, controls, token);
  } else if (kind === "audio") {
    const audio = h("audio", { controls: true, preload: "metadata", src: urls.download, "aria-label": `Audio: ${file.name}`, id: "player" });
    audio.addEventListener("error", () => {
      note.className = "player-note error";
      note.textContent = "This audio cannot be played in this browser. Use the Download button to listen with another player.";
    });
    state.player = { mode: "direct", element: audio };
    player.append(audio);
  } else if (kind === "image") {
    player.append(h("img", { src: urls.download, alt: `Preview of ${file.name}`, id: "preview", loading: "lazy" }));
  } else {
    player.remove();
    note.remove();
  }
  loadSwarm(file, swarm, token);
}
