// The admin dashboard: health and alerts, users (ban/unban), bans, reports, recent uploads (remove
// and block), the audit log. Someone who is not an administrator gets a message, not empty tables.

import { api, reason } from "./api.js";
import { $, announce, h, humanSize, npub, plural, shortNpub, when } from "./dom.js";
import { state } from "./state.js";

const HEALTH_ALERT_SCORE = 50;
const SHA256 = /^[0-9a-f]{64}$/;

function deny(message) {
  $("admin-content").hidden = true;
  $("admin-denied").hidden = false;
  $("admin-denied").textContent = message;
}

export async function showAdmin() {
  if (!state.session) {
    location.hash = "#/login";
    return;
  }
  if (!state.session.is_admin) {
    deny(`This page is for the gateway's administrators. You are logged in as ${shortNpub(state.session.pubkey)}, which is not an administrator key.`);
    return;
  }
  $("admin-denied").hidden = true;
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
  if (users.status === 403) {
    deny("This page is for the gateway's administrators, and the gateway says this key is not one of them.");
    return;
  }
  if (users.status === 401) {
    location.hash = "#/login"; // the session-ended notice stays above the login cards
    return;
  }
  if (!users.ok) {
    $("admin-status").textContent = `Cannot load the admin data: ${reason(users)}`;
    $("admin-content").hidden = true;
    return;
  }
  $("admin-content").hidden = false;
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
  const badge = (c) => (c.enabled === false ? ["off", "disabled"] : c.ok ? ["good", "up"] : ["bad", "down"]);
  $("health-table").tBodies[0].replaceChildren(...components.map((c) => h(
    "tr", {},
    h("th", { scope: "row" }, c.name),
    h("td", {}, c.enabled === false ? "—" : String(c.score)),
    h("td", {}, h("span", { class: `badge ${badge(c)[0]}` }, badge(c)[1])),
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
  const outcome = result.ok ? message : `Failed: ${reason(result)}`;
  if (result.ok) announce(message);
  await showAdmin();
  $("admin-status").textContent = outcome;
}

function keyLabel(pubkey) {
  return h("code", { title: npub(pubkey) }, shortNpub(pubkey));
}

function banButton(pubkey) {
  return h("button", {
    type: "button",
    class: "danger small",
    "aria-label": `Ban ${npub(pubkey)}`,
    onclick: () => {
      const why = window.prompt(`Ban ${shortNpub(pubkey)}? Give a reason (kept in the audit log):`, "");
      if (why === null) return;
      adminAction(`/api/admin/users/${pubkey}/ban`, { method: "POST", body: { reason: why } }, `Banned ${shortNpub(pubkey)}.`);
    },
  }, "Ban");
}

function unbanButton(pubkey) {
  return h("button", {
    type: "button",
    class: "secondary small",
    "aria-label": `Unban ${npub(pubkey)}`,
    onclick: () => adminAction(`/api/admin/users/${pubkey}/unban`, { method: "POST" }, `Unbanned ${shortNpub(pubkey)}.`),
  }, "Unban");
}

function removeButton(sha256, name) {
  return h("button", {
    type: "button",
    class: "danger small",
    "aria-label": `Remove and block ${name || sha256}`,
    onclick: () => {
      const why = window.prompt(`Remove ${name || sha256.slice(0, 12)} for everyone and block it? Reason:`, "");
      if (why === null) return;
      adminAction(
        `/api/admin/files/${sha256}?reason=${encodeURIComponent(why)}`,
        { method: "DELETE" },
        `Removed and blocked ${name || sha256.slice(0, 12)}.`,
      );
    },
  }, "Remove and block");
}

function renderUsers(users) {
  const rows = users.map((user) => h(
    "tr", { dataset: { pubkey: user.pubkey } },
    h("th", { scope: "row" }, keyLabel(user.pubkey)),
    h("td", {}, plural(user.files, "file")),
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
      h("div", {}, keyLabel(ban.pubkey),
        h("div", { class: "meta" }, `${ban.reason ? `“${ban.reason}” · ` : ""}${when(ban.at)}`)),
      unbanButton(ban.pubkey)),
  )) : [h("li", { class: "meta" }, "Nobody is banned.")]));
}

function renderReports(reports) {
  $("reports").replaceChildren(...(reports.length ? reports.map((entry) => {
    const report = entry.report || {};
    const event = report.event || {};
    // A report is written by anyone: only a well-formed SHA-256 becomes a link or an admin action.
    const sha = SHA256.test(report.sha256 || "") ? report.sha256 : null;
    return h(
      "li", {},
      h("div", {}, sha ? h("a", { href: `#/file/${sha}` }, sha.slice(0, 12)) : "(malformed file hash)", ` — ${report.reason || "other"}`),
      h("div", { class: "meta" }, `by ${shortNpub(event.pubkey || "")} · ${when(entry.received)}${event.content ? ` · “${event.content}”` : ""}`),
      sha ? removeButton(sha, null) : null,
    );
  }) : [h("li", { class: "meta" }, "No reports.")]));
}

function renderUploads(files) {
  $("admin-uploads").replaceChildren(...(files.length ? files.map((file) => h(
    "li", { dataset: { sha256: file.sha256 } },
    h("div", { class: "row" },
      h("div", {}, h("a", { href: `#/file/${file.sha256}` }, file.name),
        h("div", { class: "meta" }, `${humanSize(file.size)} · ${file.type} · owners: ${(file.owners || []).map(shortNpub).join(", ") || "anonymous"}`)),
      removeButton(file.sha256, file.name)),
  )) : [h("li", { class: "meta" }, "No uploads yet.")]));
}

// Bans name a pubkey (shown as npub); file actions name a SHA-256 (shown shortened).
function auditTarget(entry) {
  const target = String(entry.target || "");
  if (!SHA256.test(target)) return target;
  return ["ban", "unban"].includes(entry.action) ? shortNpub(target) : `${target.slice(0, 12)}…`;
}

function renderAudit(entries) {
  $("audit").replaceChildren(...(entries.length ? entries.map((entry) => h(
    "li", {},
    h("strong", {}, entry.action || "?"), " ",
    h("code", {}, auditTarget(entry)),
    h("div", { class: "meta" }, `by ${shortNpub(entry.admin || "")} · ${when(entry.time)}${entry.details && entry.details.reason ? ` · “${entry.details.reason}”` : ""}`),
  )) : [h("li", { class: "meta" }, "No admin actions yet.")]));
}
