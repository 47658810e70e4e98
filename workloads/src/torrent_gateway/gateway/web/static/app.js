// Minimal UI: upload with progress, list recent files with their links.
"use strict";

function humanSize(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes, unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function fileItem(file) {
  const li = document.createElement("li");
  const title = document.createElement("strong");
  title.textContent = file.name;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${humanSize(file.size)} · ${file.type} · ${file.sha256}`;
  const links = document.createElement("div");
  for (const [label, href] of [["Download", file.urls.download], ["Torrent", file.urls.torrent], ["Magnet", file.magnet]]) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = label;
    links.appendChild(a);
  }
  li.append(title, meta, links);
  return li;
}

async function loadRecent() {
  const response = await fetch("/api/files?limit=20");
  if (!response.ok) return;
  const body = await response.json();
  const list = document.getElementById("recent-files");
  list.replaceChildren(...body.files.map(fileItem));
}

function upload(event) {
  event.preventDefault();
  const input = document.getElementById("file-input");
  if (!input.files.length) return;
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const form = new FormData();
  form.append("file", input.files[0]);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/upload");
  const token = localStorage.getItem("tgw-token");
  if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
  progress.hidden = false;
  progress.value = 0;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; };
  xhr.onload = () => {
    if (xhr.status === 200 || xhr.status === 201) {
      const file = JSON.parse(xhr.responseText);
      status.textContent = `Uploaded ${file.name} (${file.sha256.slice(0, 12)}…)`;
      loadRecent();
    } else {
      let reason = xhr.statusText;
      try { reason = JSON.parse(xhr.responseText).detail; } catch (_) { /* keep statusText */ }
      status.textContent = `Upload failed: ${reason}`;
    }
  };
  xhr.onerror = () => { status.textContent = "Upload failed: network error"; };
  xhr.send(form);
}

document.getElementById("upload-form").addEventListener("submit", upload);
loadRecent();
