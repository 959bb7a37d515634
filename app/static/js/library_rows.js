// The Library table's pieces: the summary strip, one row per file (a failed analysis badge loads its reason
// lazily) and the pager. They draw what they are given; library.js keeps the page's state.
import { api } from "./api.js";
import { h, clear, $, fmtBytes, fmtDuration, fmtDate, fmtNumber, statusBadge } from "./dom.js";

const failureReasons = new Map();
let eagerReasons = 10;

export function renderSummary(summary) {
  const stat = (label, value) => h("div", { class: "stat" },
    h("div", { class: "stat-value" }, value), h("div", { class: "small text-muted" }, label));
  clear($("#summary"),
    stat("files", fmtNumber(summary.count)),
    stat("total size", fmtBytes(summary.total_bytes)),
    stat("total duration", fmtDuration(summary.total_duration_seconds)),
    stat("proxies", fmtBytes(summary.proxy_bytes)));
}

// The rows of one page: `isSelected(file)` ticks a row's box, `onToggle(id, checked)` hears it change.
export function renderRows(items, { isSelected, onToggle }) {
  eagerReasons = 10;
  clear($("#file-rows"), items.map((file) => fileRow(file, isSelected(file), onToggle)));
}

function fileRow(file, checked, onToggle) {
  const box = h("input", { type: "checkbox", class: "form-check-input row-select", checked,
    "aria-label": `Select ${file.name}`, dataset: { id: file.id },
    onchange: (e) => onToggle(file.id, e.target.checked) });
  const thumb = file.thumbnail_url
    ? h("img", { class: "thumb", src: file.thumbnail_url, alt: "", loading: "lazy", width: "64", height: "40" })
    : h("div", { class: "thumb-placeholder" }, file.media_type === "video" ? "video" : "image");
  const resolution = file.width && file.height ? `${file.width}×${file.height}` : "–";
  const proxy = file.has_proxy ? h("span", { class: "badge text-bg-success" }, "proxy")
    : h("span", { class: "badge text-bg-light border" }, "none");
  const nameCell = h("td", { class: "name-cell" },
    h("a", { href: `/files/${file.id}`, class: "file-name text-break-all fw-medium" }, file.name),
    h("div", { class: "folder-text" }, file.folder),
    file.status === "failed" ? h("div", { class: "small text-danger" }, file.error || "unreadable") : null);
  return h("tr", { dataset: { fileId: file.id } },
    h("td", {}, box), h("td", {}, thumb), nameCell,
    h("td", { class: "hide-sm" }, file.media_type),
    h("td", { class: "text-nowrap" }, file.media_type === "video" ? fmtDuration(file.duration_seconds) : "–"),
    h("td", { class: "text-nowrap" }, fmtBytes(file.size_bytes)),
    h("td", { class: "hide-sm text-nowrap" }, resolution),
    h("td", { class: "hide-sm text-nowrap small" }, file.created_at ? fmtDate(file.created_at) : "–"),
    h("td", {}, proxy),
    h("td", {}, analysisCell(file)));
}

function analysisCell(file) {
  const status = file.analysis.status;
  const labels = { none: "none", pending: "pending", completed: "completed", failed: "failed" };
  const badge = statusBadge(labels[status] || status);
  badge.classList.add("analysis-badge");
  if (status === "failed") {
    badge.tabIndex = 0;
    badge.title = failureReasons.get(file.id) || "Analysis failed (loading the reason…)";
    if (!failureReasons.has(file.id)) {
      // The first few reasons load at once; the rest when the pointer or keyboard reaches them.
      if (eagerReasons > 0) {
        eagerReasons -= 1;
        loadFailureReason(file.id, badge);
      } else {
        const load = () => loadFailureReason(file.id, badge);
        badge.addEventListener("mouseenter", load, { once: true });
        badge.addEventListener("focus", load, { once: true });
      }
    }
  } else if (status === "pending") {
    badge.title = "Waiting for results";
  }
  return badge;
}

async function loadFailureReason(fileId, badge) {
  try {
    const data = await api.get(`/api/files/${fileId}/analyses`);
    const run = (data.items || []).find((r) => r.status === "FAILED");
    const reason = run && run.error ? `${run.error.code || "failed"}: ${run.error.message || ""}` : "Analysis failed";
    failureReasons.set(fileId, reason);
    badge.title = reason;
    badge.setAttribute("aria-label", `failed: ${reason}`);
  } catch {
    /* keep the generic title */
  }
}

// Page numbers around the current one, with Previous and Next; onPage(number) moves there.
export function renderPager({ total, hasNext, page, perPage, onPage }) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  const item = (label, target, { active = false, disabled = false, aria } = {}) => h("li",
    { class: `page-item${active ? " active" : ""}${disabled ? " disabled" : ""}` },
    h("button", { type: "button", class: "page-link", disabled, "aria-current": active ? "page" : undefined,
      "aria-label": aria, onclick: () => onPage(target) }, label));
  const wanted = new Set([1, pages, page - 1, page, page + 1, page - 2, page + 2]);
  const numbers = [...wanted].filter((p) => p >= 1 && p <= pages).sort((a, b) => a - b);
  const items = [item("‹", page - 1, { disabled: page <= 1, aria: "Previous page" })];
  let previous = 0;
  for (const p of numbers) {
    if (p - previous > 1) items.push(h("li", { class: "page-item disabled" }, h("span", { class: "page-link" }, "…")));
    items.push(item(String(p), p, { active: p === page }));
    previous = p;
  }
  items.push(item("›", page + 1, { disabled: !hasNext, aria: "Next page" }));
  clear($("#pager"), items);
}
