// Views are chosen by the URL fragment (#/, #/file/<sha256>, #/my, #/login, #/admin) so every page
// has a shareable address; anything else is the "not found" view, never a silent Upload page.

import { showAdmin } from "./admin.js";
import { showFile } from "./file.js";
import { showLogin } from "./login.js";
import { showMy } from "./my.js";
import { stopPlayer } from "./player.js";
import { state } from "./state.js";
import { showHome } from "./upload.js";

const TITLES = { home: "", my: "My files", login: "Log in", admin: "Administration", notfound: "Page not found" };

const routes = [
  [/^(#\/?)?$/, "home", showHome],
  [/^#\/file\/([0-9a-fA-F]{64})$/, "file", showFile],
  [/^#\/my$/, "my", showMy],
  [/^#\/login$/, "login", showLogin],
  [/^#\/admin$/, "admin", showAdmin],
];

export function route(initial = false) {
  state.routeToken += 1;
  stopPlayer();
  const hash = location.hash;
  let match = { name: "notfound", handler: () => {}, args: [] };
  for (const [pattern, name, handler] of routes) {
    const found = hash.match(pattern);
    if (found) { match = { name, handler, args: found.slice(1) }; break; }
  }
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${match.name}`;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === match.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const title = TITLES[match.name];
  if (title !== undefined) document.title = title ? `${title} · Torrent Gateway` : "Torrent Gateway";
  match.handler(...match.args);
  if (!initial) {
    const heading = document.querySelector(`#view-${match.name} h1`);
    if (heading) heading.focus();
  }
}
