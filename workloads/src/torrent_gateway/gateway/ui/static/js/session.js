// Who is logged in. The page asks the gateway (GET /api/auth/me) at load and after a login, and
// remembers only that someone was logged in (not who, not a token) so that a session that ended
// while the page was closed, e.g. by a server restart, is announced instead of vanishing silently.

import { api, onSessionEnded } from "./api.js";
import { $, announce, npub, shortNpub } from "./dom.js";
import { state } from "./state.js";

const WAS_LOGGED_IN = "tgw-was-logged-in";
const LEGACY_TOKEN_KEY = "tgw-session"; // older pages kept the bearer token here: never again

export function renderSession() {
  const session = state.session;
  $("nav-login").hidden = Boolean(session);
  $("logout-button").hidden = !session;
  $("nav-my").hidden = !session;
  $("nav-admin").hidden = !(session && session.is_admin);
  $("session-info").hidden = !session;
  $("session-npub").textContent = session ? shortNpub(session.pubkey) : "";
  $("session-npub").title = session ? npub(session.pubkey) : "";
  $("session-npub").dataset.pubkey = session ? session.pubkey : "";
}

export function setSession(session) {
  state.session = session ? { pubkey: session.pubkey, is_admin: Boolean(session.is_admin), expires_at: session.expires_at } : null;
  if (state.session) {
    localStorage.setItem(WAS_LOGGED_IN, "1");
    $("session-notice").hidden = true;
  } else {
    localStorage.removeItem(WAS_LOGGED_IN);
  }
  renderSession();
}

// The notice stays until the next login or logout; a page opened later shows it once more, then forgets.
function showSessionEnded(remember) {
  setSession(null);
  if (remember) localStorage.setItem(WAS_LOGGED_IN, "1");
  $("session-notice").hidden = false;
  announce("Your session ended. Log in again to see your files.");
}

// GET /api/auth/me: 200 → logged in; 401 → not (and, if we were, say so).
export async function loadSession() {
  localStorage.removeItem(LEGACY_TOKEN_KEY);
  const result = await api("/api/auth/me", { auth: false });
  if (result.ok && result.data && result.data.pubkey) {
    setSession(result.data);
  } else if (result.status === 401 && localStorage.getItem(WAS_LOGGED_IN)) {
    showSessionEnded(false);
  } else {
    setSession(null);
  }
  return state.session;
}

export async function logout() {
  if (state.session) await api("/api/auth/logout", { method: "POST", auth: false });
  setSession(null);
  announce("Logged out.");
  location.hash = "#/";
}

onSessionEnded(() => showSessionEnded(true));
