// The Library page's upload control. Files dropped on the zone or picked with "Choose files…" are checked
// against the server's limits (extension, size) before anything is sent, so a 20 GB file is refused at once;
// the server checks everything again. Each file goes in its own POST /api/files/upload, sent with
// XMLHttpRequest because its upload progress events (which fetch lacks) drive the file's progress bar, and
// the server's answer for that file is shown beside it, as text.
import { api } from "./api.js";
import { h, $, fmtBytes, progressBar, toast } from "./dom.js";
import { trackTask } from "./tasks.js";

const UPLOAD_URL = "/api/files/upload";
const MIB = 1024 * 1024;
const queue = [];
let sending = false;
let reloadList = () => {};
let limitsReady = Promise.resolve(null);

// `reload` refreshes the file list; `reveal` opens the panel when files are dragged over the page.
export function initUploadPanel({ reload, reveal }) {
  reloadList = reload;
  const input = $("#upload-input");
  const zone = $("#upload-drop");
  $("#upload-choose").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = "";  // choosing the same file again is a new change
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("drop-active");
    });
  }
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("drop-active");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("drop-active");
    addFiles([...event.dataTransfer.files]);
  });
  // A file dropped beside the zone would make the browser leave the page to show it.
  document.addEventListener("dragenter", (event) => { if (carriesFiles(event)) reveal(); });
  document.addEventListener("dragover", (event) => { if (carriesFiles(event)) event.preventDefault(); });
  document.addEventListener("drop", (event) => { if (carriesFiles(event)) event.preventDefault(); });
  limitsReady = loadLimits();
}

function carriesFiles(event) {
  return Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes("Files");
}

// Without the limits (an older server, a network error) the server's answer is the only check.
async function loadLimits() {
  let limits;
  try {
    limits = await api.get("/api/files/upload/limits");
  } catch {
    return null;
  }
  const extensions = [...limits.video_extensions, ...limits.image_extensions];
  $("#upload-input").accept = extensions.map((ext) => `.${ext}`).join(",");
  $("#upload-hint").textContent = `Videos up to ${sizeText(limits.max_video_bytes)}, photos up to `
    + `${sizeText(limits.max_image_bytes)}. Uploads are copied into the app's data folder.`;
  return limits;
}

function sizeText(bytes) {
  const mib = bytes / MIB;
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GB` : `${mib} MB`;
}

// The server's rules, in its words: the size limit while streaming is chosen by extension
// (app/services/uploads.py size_limit_for), and the extensions are the ones the library takes.
function refusalFor(file, limits) {
  if (!limits) return null;
  const ext = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  const isImage = limits.image_extensions.includes(ext);
  if (!isImage && !limits.video_extensions.includes(ext)) {
    return `not sent: only videos and photos are taken (${[...limits.video_extensions, ...limits.image_extensions]
      .map((e) => `.${e}`).join(" ")})`;
  }
  const limit = isImage ? limits.max_image_bytes : limits.max_video_bytes;
  if (file.size <= limit) return null;
  return `not sent: larger than the ${sizeText(limit)} limit for ${isImage ? "photos (MAX_IMAGE_SIZE_MB)"
    : "videos (MAX_VIDEO_SIZE_MB)"}`;
}

async function addFiles(files) {
  if (!files.length) return;
  const limits = await limitsReady;
  for (const file of files) {
    const row = new UploadRow(file);
    $("#upload-list").append(row.el);
    const refusal = refusalFor(file, limits);
    if (refusal) row.finish("refused", refusal);
    else queue.push(row);
  }
  if (!sending) sendQueued();
}

// One file at a time, in the order chosen; files added meanwhile join the queue.
async function sendQueued() {
  sending = true;
  const proxyTasks = [];
  let stored = 0;
  let failed = 0;
  while (queue.length) {
    const row = queue.shift();
    if (row.state === "cancelled") continue;
    if (await send(row)) {
      stored += 1;
      if (row.proxiesTask) proxyTasks.push(row.proxiesTask);
    } else {
      failed += 1;
    }
  }
  sending = false;
  if (stored) {
    toast(`${stored} file(s) uploaded${failed ? `, ${failed} not` : ""}.`, failed ? "error" : "success");
    reloadList();
    for (const taskId of proxyTasks) {
      trackTask($("#activity"), taskId, { title: "Generating proxies", onDone: () => reloadList() });
    }
  }
}

function send(row) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", UPLOAD_URL);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) row.progress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => resolve(settle(row, xhr.status, parseJson(xhr.responseText))));
    xhr.addEventListener("error", () => resolve(row.finish("failed",
      "The server could not be reached (or closed the connection). Is the app still running?")));
    xhr.addEventListener("abort", () => resolve(row.finish("cancelled", "Cancelled")));
    row.start(() => xhr.abort());
    const form = new FormData();
    form.append("files", row.file, row.file.name);
    xhr.send(form);
  });
}

function parseJson(text) {
  try { return JSON.parse(text); } catch { return null; }
}

// 201 {"items": [file]} when stored; otherwise the API's error shape, whose message names this file.
function settle(row, status, body) {
  const stored = status === 201 && body && Array.isArray(body.items) ? body.items[0] : null;
  if (stored) {
    row.proxiesTask = body.proxies_task_id || null;
    return row.finish("done", "Uploaded", stored);
  }
  if (status === 401) location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
  const error = (body && body.error) || (body && body.errors && body.errors[0]) || {};
  return row.finish("failed", error.message || `The upload failed with HTTP ${status}.`);
}

// One file's line: name, size, state, progress bar and Cancel while it waits or is sent.
class UploadRow {
  constructor(file) {
    this.file = file;
    this.state = "waiting";
    this.abort = null;
    this.status = h("span", { class: "small text-muted upload-status", role: "status" }, "Waiting");
    this.cancel = h("button", { type: "button", class: "btn btn-link btn-sm p-0 ms-auto",
      "aria-label": `Cancel the upload of ${file.name}`, onclick: () => this.onCancel() }, "Cancel");
    this.bar = progressBar(0, { label: `Upload of ${file.name}` });
    this.el = h("li", { class: "upload-item", dataset: { state: this.state } },
      h("div", { class: "d-flex flex-wrap align-items-baseline gap-2" },
        h("span", { class: "upload-name fw-medium" }, file.name),
        h("span", { class: "small text-muted" }, fmtBytes(file.size)), this.status, this.cancel),
      this.bar);
  }

  setState(state, text) {
    this.state = state;
    this.el.dataset.state = state;
    this.status.textContent = text;
  }

  start(abort) {
    this.abort = abort;
    this.setState("sending", "Uploading…");
  }

  progress(fraction) {
    const percent = Math.min(100, Math.max(0, fraction * 100));
    this.setBar(percent);
    // The last byte sent is not the end: the server still checks what the file is and adds it.
    if (percent >= 100 && this.state === "sending") this.setState("processing", "Checking the file…");
  }

  // `colour` marks an outcome: the bar then fills with it, without a percentage.
  setBar(percent, colour) {
    const inner = this.bar.firstElementChild;
    this.bar.setAttribute("aria-valuenow", percent.toFixed(0));
    inner.style.width = `${percent}%`;
    inner.textContent = percent >= 12 && !colour ? `${percent.toFixed(0)}%` : "";
    if (colour) inner.classList.add(colour);
  }

  onCancel() {
    if (this.abort) this.abort();
    else this.finish("cancelled", "Cancelled");
  }

  // Ends the line in `state` (done, failed, refused, cancelled); true when the file was stored.
  finish(state, text, stored) {
    this.setState(state, text);
    this.cancel.remove();
    this.status.classList.remove("text-muted");
    if (state === "done") {
      this.setBar(100, "bg-success");
      this.status.classList.add("text-success");
      this.status.append(" · ", h("a", { href: `/files/${stored.id}` }, "open"));
    } else if (state === "refused") {
      this.bar.remove();  // nothing was sent
      this.status.classList.add("text-danger");
    } else {
      this.setBar(state === "failed" ? 100 : 0, state === "failed" ? "bg-danger" : "bg-secondary");
      this.status.classList.add(state === "failed" ? "text-danger" : "text-muted");
    }
    return state === "done";
  }
}
