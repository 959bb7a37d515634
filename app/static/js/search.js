// The Search page: query, type and mode in the URL; ranked results with highlighted snippets per field and,
// when meaning was searched, the matching moments as frames; which backend made the vectors; a backfill button.
import { api, withQuery } from "./api.js";
import { h, clear, $, fmtDuration, fmtNumber, fmtCost, notice, errorText, confirmDialog, toast } from "./dom.js";
import { trackTask } from "./tasks.js";

const MODES = { hybrid: "words and meaning", semantic: "meaning", keyword: "words" };

function readUrl() {
  const p = new URLSearchParams(location.search);
  const mode = MODES[p.get("mode")] ? p.get("mode") : "hybrid";
  return { q: p.get("q") || "", media_type: p.get("media_type") || "", mode, page: Math.max(1, parseInt(p.get("page") || "1", 10) || 1) };
}

let state = readUrl();

// Snippet segments arrive as [{text, match}]; matches become <mark> elements holding text.
function snippet(segments) {
  return h("span", { class: "snippet" }, (segments || []).map((s) => (s.match ? h("mark", {}, s.text) : s.text)));
}

function result(item) {
  const f = item.file;
  const firstTimed = item.hits.find((hit) => hit.start_seconds !== null && hit.start_seconds !== undefined);
  const href = firstTimed ? firstTimed.url : f.url;
  const thumb = f.thumbnail_url ? h("img", { class: "thumb", src: f.thumbnail_url, alt: "", loading: "lazy" })
    : h("div", { class: "thumb-placeholder" }, f.media_type);
  return h("li", { class: "card mb-2 search-result" }, h("div", { class: "card-body py-2 d-flex gap-3" },
    h("a", { href, tabindex: "-1", "aria-hidden": "true" }, thumb),
    h("div", { class: "flex-grow-1", style: { minWidth: 0 } },
      h("a", { href, class: "fw-semibold text-break-all result-link" }, f.name),
      h("span", { class: "small text-muted ms-2" }, f.media_type, f.media_type === "video" && f.duration_seconds ? ` · ${fmtDuration(f.duration_seconds)}` : ""),
      h("div", { class: "folder-text" }, f.folder),
      h("ul", { class: "list-unstyled mb-0 mt-1" }, item.hits.map((hit) => h("li", { class: "small" },
        h("span", { class: "badge text-bg-light border me-1" }, hit.field_label),
        hit.start_seconds !== null && hit.start_seconds !== undefined
          ? h("a", { href: hit.url, class: "me-1 chapter-link" }, `▶ ${fmtDuration(hit.start_seconds)}`) : null,
        snippet(hit.snippet)))),
      moments(item.moments || []))));
}

// Moments found by meaning: a frame of the video segment (from the proxy) or the picture, linking to its time.
function moments(list) {
  if (!list.length) return null;
  return h("ul", { class: "list-unstyled d-flex flex-wrap gap-2 mb-0 mt-1 moments", "aria-label": "Matching moments" },
    list.map((m) => h("li", {}, h("a", { href: m.url, class: "moment text-muted", title: m.label || m.kind },
      m.frame_url ? h("img", { class: "moment-thumb", src: m.frame_url, alt: "", loading: "lazy" }) : null,
      h("span", {}, `${m.kind}${m.start_seconds !== null && m.start_seconds !== undefined ? ` ▶ ${fmtDuration(m.start_seconds)}` : ""}`
        + ` · ${Number(m.score).toFixed(2)}`)))));
}

function backendText(backend) {
  return backend ? `${backend.name} (${backend.model}, ${backend.dimension} d)` : "none";
}

function pager(data) {
  const items = [];
  const go = (page) => { state.page = page; search(true); };
  const button = (label, page, opts = {}) => h("li", { class: `page-item${opts.active ? " active" : ""}${opts.disabled ? " disabled" : ""}` },
    h("button", { type: "button", class: "page-link", disabled: opts.disabled, "aria-label": opts.aria,
      "aria-current": opts.active ? "page" : undefined, onclick: () => go(page) }, label));
  if (data.pages > 1) {
    items.push(button("‹", data.page - 1, { disabled: data.page <= 1, aria: "Previous page" }));
    for (let p = Math.max(1, data.page - 3); p <= Math.min(data.pages, data.page + 3); p += 1) {
      items.push(button(String(p), p, { active: p === data.page }));
    }
    items.push(button("›", data.page + 1, { disabled: data.page >= data.pages, aria: "Next page" }));
  }
  clear($("#search-pager"), items);
}

async function search(push) {
  const url = withQuery("/search", { q: state.q, media_type: state.media_type, mode: state.mode === "hybrid" ? "" : state.mode,
    page: state.page > 1 ? state.page : "" });
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
  const list = $("#search-results");
  const status = $("#search-status");
  if (!state.q.trim()) {
    clear(list);
    clear($("#search-pager"));
    status.textContent = "Search file names, folders and everything the analysis found: summaries, chapters, elements, keywords.";
    return;
  }
  status.textContent = "Searching…";
  let data;
  try {
    data = await api.get(withQuery("/api/search", { q: state.q, media_type: state.media_type, mode: state.mode, page: state.page }));
  } catch (err) {
    status.textContent = "";
    clear(list, notice(`Search failed: ${errorText(err)}`, "danger"));
    return;
  }
  if (data.message) status.textContent = data.message;
  else status.textContent = data.total ? `${fmtNumber(data.total)} file${data.total === 1 ? "" : "s"} found` : "";
  status.textContent += ` · searched by ${MODES[data.mode] || data.mode}`
    + (data.mode === "keyword" ? "" : ` · vectors by ${backendText(data.backend)}`);
  if (data.indexing_pending) {
    status.textContent += ` (${fmtNumber(data.indexing_pending)} recently changed files are still being indexed; search again in a moment)`;
  }
  clear(list, data.items.length ? data.items.map(result)
    : data.message ? [] : h("li", { class: "empty-state" }, "No files match. Try fewer or shorter words; analysed files can be found by their summaries and chapters."));
  pager(data);
}

function init() {
  $("#search-q").value = state.q;
  $("#search-type").value = state.media_type;
  $("#search-mode").value = state.mode;
  const nav = $("#nav-search");
  if (nav) nav.value = state.q;
  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state = { q: $("#search-q").value, media_type: $("#search-type").value, mode: $("#search-mode").value, page: 1 };
    search(true);
  });
  $("#search-type").addEventListener("change", () => $("#search-form").requestSubmit());
  $("#search-mode").addEventListener("change", () => $("#search-form").requestSubmit());
  $("#embeddings-backfill").addEventListener("click", backfill);
  window.addEventListener("popstate", () => {
    state = readUrl();
    $("#search-q").value = state.q;
    $("#search-type").value = state.media_type;
    $("#search-mode").value = state.mode;
    search(false);
  });
  search(false);
  showEmbeddings();
}

// ---- embeddings: what is embedded, and a backfill with its estimate first --------------------------

async function showEmbeddings() {
  try {
    const s = await api.get("/api/embeddings");
    const kinds = Object.entries(s.by_kind || {}).map(([kind, n]) => `${fmtNumber(n)} ${kind}`).join(", ");
    $("#embeddings-status").textContent = `Vectors by ${backendText(s.backend)}: ${fmtNumber(s.vectors)} for ${fmtNumber(s.files)} files`
      + (kinds ? ` (${kinds})` : "") + (s.pending_files ? ` · ${fmtNumber(s.pending_files)} files waiting` : "")
      + (s.enabled ? " · new analyses are embedded automatically" : "");
  } catch (err) {
    $("#embeddings-status").textContent = `Vectors: ${errorText(err)}`;
  }
}

function estimateBody(e) {
  const cost = e.cost_usd;
  const known = `${fmtCost(cost.bedrock_known_total)}${cost.unknown.length ? ` + ${cost.unknown.join(" and ")} (price unknown)` : ""}`;
  return [h("p", {}, `Backend: ${backendText(e.backend)}.`),
    h("ul", {}, h("li", {}, `${fmtNumber(e.files)} files`), h("li", {}, `${fmtNumber(e.images)} images`),
      h("li", {}, `${fmtNumber(e.videos)} videos (${fmtDuration(e.video_seconds)}, ${fmtNumber(e.video_segments)} segments)`),
      h("li", {}, `about ${fmtNumber(e.texts)} analysis texts (${fmtNumber(e.text_tokens)} tokens)`)),
    h("p", { class: "mb-0", id: "embeddings-cost" }, cost.charged ? `Estimated cost on Bedrock: ${known}.`
      : `The local backend charges nothing (on Bedrock this would be ${known}).`),
    cost.unknown.length ? h("p", { class: "small text-muted mb-0" }, cost.note) : null];
}

async function backfill() {
  let estimate;
  try {
    estimate = await api.get("/api/embeddings/estimate");
  } catch (err) {
    toast(errorText(err), "error");
    return;
  }
  if (!estimate.files) {
    toast("Everything is embedded already.", "info");
    return;
  }
  const ok = await confirmDialog({ title: "Build embeddings for the library?", body: estimateBody(estimate),
    confirmLabel: "Build embeddings" });
  if (!ok) return;
  try {
    const started = await api.post("/api/embeddings/backfill", { confirm: true });
    if (started.task_id) {
      trackTask($("#embeddings-activity"), started.task_id, { title: "Embedding", onDone: showEmbeddings });
    }
  } catch (err) {
    toast(errorText(err), "error");
  }
}

init();
