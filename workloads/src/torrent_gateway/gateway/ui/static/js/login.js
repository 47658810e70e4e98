// Logging in with Nostr: a NIP-07 extension signs a kind 27235 event bound to this gateway's login
// URL and a fresh challenge; or a NIP-46 signer (bunker:// URL or nostrconnect:// link) signs through
// the gateway. The gateway answers with an HttpOnly session cookie. Errors are said in plain words
// under the card that failed, and only there.

import { api, reason } from "./api.js";
import { $, announce, shortNpub } from "./dom.js";
import { loadSession, setSession } from "./session.js";
import { state } from "./state.js";

export const LOGIN_KIND = 27235;
const CARDS = ["nip07", "bunker", "nostrconnect"];

function clearMessages() {
  for (const card of CARDS) $(`login-error-${card}`).textContent = "";
  $("login-status").textContent = "";
}

function showError(card, message) {
  $("login-status").textContent = "";
  for (const other of CARDS) $(`login-error-${other}`).textContent = other === card ? message : "";
  announce(message);
}

// What a failed login answer means, for a person rather than a protocol.
function loginProblem(card, result) {
  switch (result.status) {
    case 0: return "The gateway cannot be reached. Check your connection and try again.";
    case 401: return card === "nip07"
      ? "The gateway did not accept the signed login (it may have taken too long or been made for another site). Try again."
      : "The gateway did not accept your signer's answer. Try again.";
    case 403: return "This key is not allowed to log in here (it may be banned).";
    case 429: return "Too many login attempts. Wait a minute, then try again.";
    case 502: case 504: return "Your signer did not answer in time. Open your signer app, approve the request, and try again.";
    case 400: case 422: return `The gateway could not use this login: ${reason(result)}.`;
    default: return `Logging in failed: the gateway answered with an error (${reason(result)}).`;
  }
}

async function finishLogin(card, result) {
  if (!result.ok) {
    showError(card, loginProblem(card, result));
    return;
  }
  // The gateway set the session cookie; ask who we are now, which also proves the cookie works.
  const session = await loadSession();
  if (!session) {
    setSession(null);
    showError(card, "You were logged in, but this browser did not keep the session cookie. Allow cookies for this site and try again.");
    return;
  }
  clearMessages();
  $("login-status").textContent = `Logged in as ${shortNpub(session.pubkey)}.`;
  announce("Logged in.");
  location.hash = session.is_admin ? "#/admin" : "#/my";
}

async function loginWithExtension() {
  clearMessages();
  if (!window.nostr || typeof window.nostr.signEvent !== "function") {
    showError("nip07", "No Nostr signer extension was found in this browser. Install one (nos2x, Alby, …) or use a signer app.");
    return;
  }
  const button = $("login-extension");
  button.disabled = true;
  try {
    $("login-status").textContent = "Asking the gateway for a challenge…";
    const issued = await api("/api/auth/challenge", { auth: false });
    if (!issued.ok) return finishLogin("nip07", issued);
    let event;
    try {
      $("login-status").textContent = "Waiting for your extension to sign…";
      const pubkey = await window.nostr.getPublicKey();
      event = await window.nostr.signEvent({
        kind: LOGIN_KIND,
        created_at: Math.floor(Date.now() / 1000),
        tags: [["u", `${location.origin}/api/auth/login`], ["method", "POST"], ["challenge", issued.data.challenge]],
        content: "",
        pubkey,
      });
    } catch (_) {
      return showError("nip07", "Your extension did not sign the login (it was refused or closed). Try again.");
    }
    const result = await api("/api/auth/login", {
      method: "POST",
      auth: false,
      body: { auth_type: "nip07", event, challenge: issued.data.challenge },
    });
    await finishLogin("nip07", result);
  } finally {
    button.disabled = false;
  }
}

async function loginWithBunker(event) {
  event.preventDefault();
  clearMessages();
  const input = $("bunker-url");
  const url = input.value.trim();
  if (!url.startsWith("bunker://")) {
    showError("bunker", "That is not a bunker link: it starts with bunker:// (copy it from your signer app).");
    input.focus();
    return;
  }
  const button = $("login-bunker");
  button.disabled = true;
  $("login-status").textContent = "Connecting to your signer; approve the request there…";
  try {
    await finishLogin("bunker", await api("/api/auth/login", { method: "POST", auth: false, body: { auth_type: "nip46", bunker_url: url } }));
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
  clearMessages();
  const button = $("login-nostrconnect");
  button.disabled = true;
  const started = await api("/api/auth/nostrconnect", { method: "POST", auth: false });
  button.disabled = false;
  if (!started.ok) return finishLogin("nostrconnect", started);
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
    await finishLogin("nostrconnect", result);
  };
  nostrconnectPoll = setTimeout(check, 1000);
}

export function showLogin() {
  clearMessages();
  if (state.session) $("login-status").textContent = `You are logged in as ${shortNpub(state.session.pubkey)}.`;
}

export function setUpLogin() {
  $("login-extension").addEventListener("click", loginWithExtension);
  $("bunker-form").addEventListener("submit", loginWithBunker);
  $("login-nostrconnect").addEventListener("click", loginWithNostrconnect);
}
