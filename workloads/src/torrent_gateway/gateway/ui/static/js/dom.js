// DOM and formatting helpers shared by every view. Text from the server or from users always goes
// into the page as text nodes, never as HTML.

export const $ = (id) => document.getElementById(id);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function h(tag, attrs, ...children) {
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

export function humanSize(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

// "1 file", "2 files", "0 files".
export function plural(count, noun) {
  const n = Number(count) || 0;
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export function when(seconds) {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleString();
}

export function announce(message) {
  const region = $("announcer");
  region.textContent = "";
  // A fresh text node after a tick makes screen readers announce repeated messages too.
  setTimeout(() => { region.textContent = message; }, 30);
}

export function mediaKind(type) {
  const major = String(type || "").split("/")[0];
  return ["video", "audio", "image"].includes(major) ? major : null;
}

// ---- npub: people know their Nostr key as bech32 (NIP-19), not as hex -------------------------

const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

function polymod(values) {
  const generators = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let check = 1;
  for (const value of values) {
    const top = check >> 25;
    check = ((check & 0x1ffffff) << 5) ^ value;
    for (let i = 0; i < 5; i += 1) if ((top >> i) & 1) check ^= generators[i];
  }
  return check;
}

function regroup(bytes, from, to) {
  let acc = 0;
  let bits = 0;
  const out = [];
  const mask = (1 << to) - 1;
  for (const byte of bytes) {
    acc = ((acc << from) | byte) & 0xffff;
    bits += from;
    while (bits >= to) { bits -= to; out.push((acc >> bits) & mask); }
  }
  if (bits > 0) out.push((acc << (to - bits)) & mask);
  return out;
}

export function npub(hex) {
  if (!/^[0-9a-f]{64}$/i.test(hex || "")) return hex || "";
  const hrp = "npub";
  const data = regroup(hex.match(/../g).map((pair) => parseInt(pair, 16)), 8, 5);
  const expanded = [...hrp].map((c) => c.charCodeAt(0) >> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
  const mod = polymod([...expanded, ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >> (5 * (5 - i))) & 31);
  return `${hrp}1${[...data, ...checksum].map((d) => BECH32[d]).join("")}`;
}

// A short npub for lists: "npub1abcd…wxyz" (the full one goes in a title attribute).
export function shortNpub(hex) {
  const full = npub(hex);
  return full.length > 24 ? `${full.slice(0, 10)}…${full.slice(-6)}` : full;
}
