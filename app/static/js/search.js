// The Search page: query and type in the URL, ranked results with highlighted snippets per field.
import { api, withQuery } from "./api.js";
import { h, clear, $, fmtDuration, fmtNumber, notice, errorText } from "./dom.js";

function readUrl() {
  const p = new URLSearchParams(location.search);
  return { q: p.get("q") || "", media_type: p.get("media_type") || "", page: Math.max(1, parseInt(p.get("page") || "1", 10) || 1) };
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
        snippet(hit.snippet)))))));
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
  const url = withQuery("/search", { q: state.q, media_type: state.media_type, page: state.page > 1 ? state.page : "" });
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
    data = await api.get(withQuery("/api/search", { q: state.q, media_type: state.media_type, page: state.page }));
  } catch (err) {
    status.textContent = "";
    clear(list, notice(`Search failed: ${errorText(err)}`, "danger"));
    return;
  }
  if (data.message) status.textContent = data.message;
  else status.textContent = data.total ? `${fmtNumber(data.total)} file${data.total === 1 ? "" : "s"} found` : "";
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
  const nav = $("#nav-search");
  if (nav) nav.value = state.q;
  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state = { q: $("#search-q").value, media_type: $("#search-type").value, page: 1 };
    search(true);
  });
  $("#search-type").addEventListener("change", () => $("#search-form").requestSubmit());
  window.addEventListener("popstate", () => {
    state = readUrl();
    $("#search-q").value = state.q;
    $("#search-type").value = state.media_type;
    search(false);
  });
  search(false);
}

init();
