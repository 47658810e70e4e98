// "My files": the logged-in user's uploads with their totals, each deletable.

import { api, reason } from "./api.js";
import { $, h, humanSize, plural } from "./dom.js";
import { state } from "./state.js";
import { fileItem } from "./upload.js";

function statsText(s) {
  return `${plural(s.files, "file")} · ${humanSize(s.bytes)} · ${plural(s.downloads, "download")}`;
}

export async function showMy() {
  if (!state.session) {
    location.hash = "#/login";
    return;
  }
  const token = state.routeToken;
  // Nothing of a previous visit stays on screen while the list loads (or if the session is gone).
  $("my-status").textContent = "";
  $("my-stats").textContent = "";
  $("my-files").replaceChildren();
  $("my-empty").hidden = true;
  const [stats, files] = await Promise.all([api("/api/users/me/stats"), api("/api/users/me/files?limit=100")]);
  if (token !== state.routeToken) return;
  if (files.status === 401) {
    location.hash = "#/login"; // the session-ended notice stays above the login cards
    return;
  }
  if (!files.ok) {
    $("my-status").textContent = `Cannot list your files: ${reason(files)}`;
    return;
  }
  if (stats.ok) $("my-stats").textContent = statsText(stats.data);
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
      const button = event.currentTarget;
      button.disabled = true;
      const result = await api(`/api/users/me/files/${file.sha256}`, { method: "DELETE" });
      if (result.ok) {
        const item = button.closest("li");
        const next = item && (item.nextElementSibling || item.previousElementSibling);
        if (item) item.remove();
        $("my-status").textContent = `Deleted ${file.name}.`;
        $("my-empty").hidden = $("my-files").children.length > 0;
        // Keyboard users keep their place: focus goes to the next file's delete button.
        const focusable = next && next.querySelector("button");
        (focusable || $("my-title")).focus();
        const stats = await api("/api/users/me/stats");
        if (stats.ok) $("my-stats").textContent = statsText(stats.data);
      } else {
        button.disabled = false;
        $("my-status").textContent = `Could not delete ${file.name}: ${reason(result)}`;
      }
    },
  }, "Delete");
}
