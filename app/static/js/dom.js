// DOM helpers: every piece of data is inserted as text (never as HTML), plus formatters and polling.

// h("a", {href, class, onclick}, "text", childNode, ...): an element with text children.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "checked" || key === "disabled" || key === "selected" || key === "value") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// ---- formatting ---------------------------------------------------------------------------

export function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value >= 100 || unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "–";
  let s = Math.round(Number(seconds));
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  s -= minutes * 60;
  const pad = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${pad(minutes)}:${pad(s)}` : `${minutes}:${pad(s)}`;
}

// A long span in words: "2 h 5 min", "45 s".
export function fmtSpan(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours >= 48 ? `${Math.round(hours / 24)} days` : `${hours} h ${minutes} min`;
}

export function fmtDate(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function fmtCost(usd) {
  if (usd === null || usd === undefined) return "–";
  const value = Number(usd);
  if (value === 0) return "$0.00";
  if (Math.abs(value) < 0.01) return `$${value.toFixed(4)}`;
  return `$${value.toFixed(2)}`;
}

export function fmtNumber(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString();
}

export function fmtPercent(fraction) {
  return fraction === null || fraction === undefined ? "–" : `${(fraction * 100).toFixed(fraction === 1 ? 0 : 1)}%`;
}

export function since(iso) {
  if (!iso) return null;
  return (Date.now() - new Date(iso).getTime()) / 1000;
}

// ---- feedback -----------------------------------------------------------------------------

export function toast(message, kind = "info") {
  const area = document.getElementById("toasts");
  if (!area) return;
  const colour = { error: "text-bg-danger", success: "text-bg-success", info: "text-bg-secondary" }[kind] || "text-bg-secondary";
  const el = h("div", { class: `toast align-items-center border-0 ${colour}`, role: kind === "error" ? "alert" : "status",
    "aria-live": kind === "error" ? "assertive" : "polite", "aria-atomic": "true" },
  h("div", { class: "d-flex" },
    h("div", { class: "toast-body" }, message),
    h("button", { type: "button", class: "btn-close btn-close-white me-2 m-auto", "data-bs-dismiss": "toast",
      "aria-label": "Close" })));
  area.append(el);
  const instance = window.bootstrap ? new window.bootstrap.Toast(el, { delay: kind === "error" ? 8000 : 4000 }) : null;
  el.addEventListener("hidden.bs.toast", () => el.remove());
  if (instance) instance.show();
}

export function errorText(err) {
  return err && err.message ? err.message : String(err);
}

// An alert box with text (used for "not available yet" and failures inside a section).
export function notice(text, kind = "secondary") {
  return h("div", { class: `alert alert-${kind} mb-0`, role: kind === "danger" ? "alert" : "status" }, text);
}

// A modal confirmation; resolves true when confirmed. Body is text or nodes.
export function confirmDialog({ title, body, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    let confirmed = false;
    const confirmButton = h("button", { type: "button", class: `btn ${danger ? "btn-danger" : "btn-primary"}`,
      onclick: () => { confirmed = true; modal.hide(); } }, confirmLabel);
    const el = h("div", { class: "modal fade", tabindex: "-1", "aria-labelledby": "confirm-title", "aria-modal": "true", role: "dialog" },
      h("div", { class: "modal-dialog" },
        h("div", { class: "modal-content" },
          h("div", { class: "modal-header" },
            h("h2", { class: "modal-title fs-5", id: "confirm-title" }, title),
            h("button", { type: "button", class: "btn-close", "data-bs-dismiss": "modal", "aria-label": "Close" })),
          h("div", { class: "modal-body" }, body),
          h("div", { class: "modal-footer" },
            h("button", { type: "button", class: "btn btn-outline-secondary", "data-bs-dismiss": "modal" }, "Cancel"),
            confirmButton))));
    document.body.append(el);
    const modal = new window.bootstrap.Modal(el);
    el.addEventListener("shown.bs.modal", () => confirmButton.focus());
    el.addEventListener("hidden.bs.modal", () => { el.remove(); resolve(confirmed); });
    modal.show();
  });
}

export function progressBar(percent, { label, striped = false, colour = "" } = {}) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  return h("div", { class: "progress", role: "progressbar", "aria-label": label || "Progress",
    "aria-valuenow": value.toFixed(0), "aria-valuemin": "0", "aria-valuemax": "100" },
  h("div", { class: `progress-bar ${striped ? "progress-bar-striped progress-bar-animated" : ""} ${colour}`,
    style: { width: `${value}%` } }, value >= 12 ? `${value.toFixed(0)}%` : ""));
}

const STATUS_COLOURS = {
  COMPLETED: "success", SUCCEEDED: "success", completed: "success",
  PARTIAL: "warning", PARTIALLYCOMPLETED: "warning", RESULT_FETCH_FAILED: "danger",
  FAILED: "danger", failed: "danger", EXPIRED: "danger",
  CANCELLED: "secondary", STOPPED: "secondary", none: "light",
  RUNNING: "primary", IN_PROGRESS: "primary", INPROGRESS: "primary", FETCHING: "info", pending: "info",
  SUBMITTED: "info", QUEUED: "secondary", STAGING: "secondary", PENDING: "secondary", VALIDATING: "info", SCHEDULED: "info",
};

export function statusBadge(status, title) {
  const key = String(status || "").replace(/\s+/g, "").toUpperCase();
  const colour = STATUS_COLOURS[status] || STATUS_COLOURS[key] || "secondary";
  const dark = colour === "light" || colour === "warning" || colour === "info";
  return h("span", { class: `badge text-bg-${colour}${dark ? "" : ""}`, title: title || undefined },
    String(status ?? "–").replaceAll("_", " "));
}

// ---- polling ------------------------------------------------------------------------------

// Calls `tick` every `interval` ms while it returns true; pauses while the tab is hidden.
export class Poller {
  constructor(tick, interval = 3000) {
    this.tick = tick;
    this.interval = interval;
    this.timer = null;
    this.running = false;
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && this.running && !this.timer) this.schedule(0);
    });
  }

  start(delay = 0) {
    this.running = true;
    if (!this.timer) this.schedule(delay);
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  schedule(delay) {
    this.timer = setTimeout(async () => {
      this.timer = null;
      if (!this.running) return;
      if (document.hidden) return; // resumed by visibilitychange
      let again = false;
      try { again = await this.tick(); } catch (err) { again = true; console.warn(err); }
      if (again && this.running) this.schedule(this.interval);
      else this.running = false;
    }, delay);
  }
}

export function downloadBlob(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: filename, class: "d-none" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
