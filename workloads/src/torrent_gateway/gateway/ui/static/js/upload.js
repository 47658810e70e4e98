// The home view: upload by file picker (several files at once), drag-and-drop or paste, one row per
// file with its own progress; a failure is red, says what went wrong and offers Retry.

import { CSRF_HEADER, api, sessionEnded } from "./api.js";
import { $, h, humanSize, when } from "./dom.js";
import { state } from "./state.js";

const queue = [];
let busy = false;

// Plain words for the statuses an upload can end with; the gateway's own reason follows.
function uploadProblem(status, detail) {
  const words = {
    0: "the connection to the gateway was lost",
    400: "the gateway could not read the upload",
    401: state.session ? "your session ended; log in again and retry" : "this gateway accepts uploads only from people who are logged in",
    403: "the gateway does not accept uploads from you",
    413: "the file is larger than this gateway accepts",
    415: "the gateway does not accept this kind of file",
    429: "too many uploads right now; wait a moment and retry",
    451: "this file is blocked on this gateway",
    503: "the gateway's storage is unavailable right now; retry later",
  }[status] || `the gateway answered with an error (HTTP ${status})`;
  return detail && status !== 0 ? `${words} (${detail})` : words;
}

function uploadRow(file) {
  const progress = h("progress", { max: "100", value: "0", class: "upload-progress", "aria-label": `Upload progress of ${file.name}` });
  const text = h("span", { class: "upload-text meta" }, `Waiting · ${humanSize(file.size)}`);
  const result = h("p", { class: "upload-result", role: "status" });
  const item = h("li", { class: "upload-item", dataset: { state: "waiting", name: file.name } },
    h("div", { class: "upload-name" }, file.name), progress, text, result);
  return { file, item, progress, text, result };
}

export function enqueue(files) {
  const list = $("upload-list");
  for (const file of files) {
    const job = uploadRow(file);
    list.prepend(job.item);
    queue.push(job);
  }
  $("upload-status").textContent = files.length === 1 ? `Uploading ${files[0].name}…` : `Uploading ${files.length} files…`;
  pump();
}

async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length) await send(queue.shift());
  busy = false;
  loadRecent();
}

function send(job) {
  const { file, item, progress, text, result } = job;
  item.dataset.state = "uploading";
  result.replaceChildren();
  result.className = "upload-result";
  progress.value = 0;
  text.textContent = `0 of ${humanSize(file.size)}`;
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.open("POST", "/api/upload");
    xhr.setRequestHeader(CSRF_HEADER[0], CSRF_HEADER[1]);
    const cancel = h("button", { type: "button", class: "secondary small", "aria-label": `Cancel upload of ${file.name}` }, "Cancel");
    cancel.addEventListener("click", () => xhr.abort());
    result.append(cancel);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      progress.value = (100 * e.loaded) / e.total;
      text.textContent = `${humanSize(e.loaded)} of ${humanSize(e.total)} (${Math.floor(progress.value)}%)`;
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
      if ((xhr.status === 200 || xhr.status === 201) && body && body.sha256) {
        succeeded(job, body);
      } else {
        if (xhr.status === 401 && state.session) sessionEnded();
        failed(job, uploadProblem(xhr.status, body && typeof body.detail === "string" ? body.detail : ""));
      }
      resolve();
    };
    xhr.onerror = () => { failed(job, uploadProblem(0, "")); resolve(); };
    xhr.onabort = () => { failed(job, "you cancelled it"); resolve(); };
    xhr.send(form);
  });
}

function succeeded(job, body) {
  const { item, progress, result } = job;
  item.dataset.state = "done";
  item.dataset.sha256 = body.sha256;
  progress.value = 100;
  result.className = "upload-result ok";
  result.replaceChildren(`Uploaded ${body.name}. `, h("a", { href: `#/file/${body.sha256}` }, `Open the page of ${body.name}`));
  $("upload-status").textContent = `Uploaded ${body.name}.`;
}

function failed(job, why) {
  const { file, item, result } = job;
  item.dataset.state = "failed";
  result.className = "upload-result error";
  const retry = h("button", { type: "button", class: "small", "aria-label": `Retry upload of ${file.name}` }, "Retry");
  retry.addEventListener("click", () => {
    queue.push(job);
    pump();
  });
  result.replaceChildren(`Upload of ${file.name} failed: ${why}. `, retry);
  $("upload-status").textContent = `Upload of ${file.name} failed: ${why}.`;
}

// ---- recent files ----

export function fileItem(file, extra) {
  const link = h("a", { href: `#/file/${file.sha256}`, class: "name" }, file.name);
  const meta = h("div", { class: "meta" }, `${humanSize(file.size)} · ${file.type} · ${when(file.created)}`);
  return h("li", { dataset: { sha256: file.sha256 } }, h("div", { class: "row" }, h("div", {}, link, meta), extra || null));
}

export async function loadRecent() {
  const token = state.routeToken;
  const result = await api("/api/files?limit=20", { auth: false });
  if (token !== state.routeToken) return;
  // The gateway may keep its list of recent files private: then the section is not shown at all.
  $("recent-section").hidden = !result.ok;
  if (!result.ok) return;
  const files = result.data.files || [];
  $("recent-files").replaceChildren(...files.map((file) => fileItem(file)));
  $("recent-empty").hidden = files.length > 0;
}

export function showHome() {
  loadRecent();
}

export function setUpUpload() {
  const input = $("file-input");
  const zone = $("upload-form");
  zone.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.files.length) {
      $("upload-status").textContent = "Choose one or more files first.";
      input.focus();
      return;
    }
    enqueue([...input.files]);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = [...((event.dataTransfer && event.dataTransfer.files) || [])];
    if (files.length) enqueue(files);
  });
  // Pasting files (a screenshot, files copied in a file manager) on the upload page uploads them.
  document.addEventListener("paste", (event) => {
    if ($("view-home").hidden) return;
    const files = [...((event.clipboardData && event.clipboardData.files) || [])];
    if (!files.length) return;
    event.preventDefault();
    enqueue(files);
  });
}
