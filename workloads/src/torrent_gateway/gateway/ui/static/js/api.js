// API access. The browser sends the session cookie by itself; every request that changes something
// carries X-Requested-With, which a cross-site form cannot set (the server refuses unsafe requests
// without it). A 401 on a call that needed the session ends the session in the page, with a notice.

import { state } from "./state.js";

export const CSRF_HEADER = ["X-Requested-With", "torrent-gateway"];
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const sessionEndedHandlers = [];

export function onSessionEnded(handler) {
  sessionEndedHandlers.push(handler);
}

export function sessionEnded() {
  for (const handler of sessionEndedHandlers) handler();
}

export async function api(path, { method = "GET", body = undefined, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method)) headers[CSRF_HEADER[0]] = CSRF_HEADER[1];
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (_) {
    return { ok: false, status: 0, data: { detail: "the gateway cannot be reached" } };
  }
  let data = null;
  const text = await response.text();
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (response.status === 401 && auth && state.session) sessionEnded();
  return { ok: response.ok, status: response.status, data, headers: response.headers };
}

export function reason(result) {
  const detail = result.data && result.data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return `HTTP ${result.status}`;
}
