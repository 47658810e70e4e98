// Torrent Gateway web UI: a single page of ES modules, without a framework, bundler or CDN.
// main.js wires the page up: session at load, the views' controls, the skip link and the router.

import { $ } from "./dom.js";
import { setUpLogin } from "./login.js";
import { route } from "./router.js";
import { loadSession, logout, renderSession } from "./session.js";
import { setUpUpload } from "./upload.js";

function setUpSkipLink() {
  // The views live in the fragment (#/…): a plain href="#main" would navigate to the Upload view.
  $("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    $("main").focus();
    $("main").scrollIntoView();
  });
}

async function start() {
  setUpSkipLink();
  setUpUpload();
  setUpLogin();
  $("logout-button").addEventListener("click", logout);
  window.addEventListener("hashchange", () => route(false));
  renderSession();
  await loadSession();
  route(true);
}

start();
