// The Library page: filters in the URL, sortable paginated table, selection and actions. The table's rows
// and pager are drawn by library_rows.js; the import panel (library_import.js, with folder_picker.js) and the
// upload control (library_upload.js) live in their own modules.
import { api, withQuery } from "./api.js";
import { h, clear, $, $$, fmtNumber, toast, errorText, confirmDialog } from "./dom.js";
import { trackTask, activeTasks } from "./tasks.js";
import { initAnalyzeDialog, openAnalyzeDialog } from "./analyze.js";
import { initImportPanel, foldImportPanel, showImportPanel } from "./library_import.js";
import { initUploadPanel } from "./library_upload.js";
import { renderSummary, renderRows as drawRows, renderPager } from "./library_rows.js";

const FILTER_KEYS = ["q", "media_type", "analysis", "has_proxy", "status", "min_size", "max_size", "min_duration",
  "max_duration", "created_from", "created_to", "imported_from", "imported_to", "directory", "recursive"];
const PAGE_KEYS = ["sort", "order", "page", "per_page"];

let state = readState();
let lastList = null;
// Keyset paging: the cursor that starts each page (by number) of the current view, learnt from the `next`
// of the page before it. Deep pages by OFFSET make the server walk every earlier row; a cursor seeks.
// The URL keeps the page number, so a bookmark opens by number and paging goes on by cursor from there.
let pageCursors = new Map();
let cursorView = "";
// Selection: explicit ids, or every file matching the filter the user was looking at.
let selection = { mode: "ids", ids: new Set(), filter: null, count: 0 };

function readState() {
  const params = new URLSearchParams(location.search);
  const s = { filters: {}, sort: params.get("sort") || "name", order: params.get("order") || "asc",
    page: Math.max(1, parseInt(params.get("page") || "1", 10) || 1),
    per_page: parseInt(params.get("per_page") || "50", 10) || 50 };
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (value !== null && value !== "") s.filters[key] = value;
  }
  return s;
}

function queryParams() {
  return { ...state.filters, sort: state.sort, order: state.order, page: state.page, per_page: state.per_page };
}

// What a list request sends: the page's cursor when one is known, else its number.
function listParams() {
  const view = JSON.stringify([state.filters, state.sort, state.order, state.per_page]);
  if (view !== cursorView) {
    pageCursors = new Map();
    cursorView = view;
  }
  const cursor = state.page > 1 ? pageCursors.get(state.page) : undefined;
  if (!cursor) return queryParams();
  const { page, ...rest } = queryParams();
  return { ...rest, cursor };
}

function writeUrl(push = true) {
  const defaults = { sort: "name", order: "asc", page: 1, per_page: 50 };
  const params = queryParams();
  for (const key of PAGE_KEYS) if (String(params[key]) === String(defaults[key])) delete params[key];
  const url = withQuery("/files", params);
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}

// ---- filters form -------------------------------------------------------------------------

function fillForm() {
  const form = $("#filters");
  for (const key of FILTER_KEYS) {
    const input = form.elements[key];
    if (!input) continue;
    const value = state.filters[key];
    if (input.type === "checkbox") input.checked = value === undefined ? true : value !== "false";
    else if (input.dataset.scale && value !== undefined) input.value = Number(value) / Number(input.dataset.scale);
    else input.value = value ?? "";
  }
  const advanced = ["min_size", "max_size", "min_duration", "max_duration", "created_from", "created_to",
    "imported_from", "imported_to", "directory"];
  if (advanced.some((k) => state.filters[k] !== undefined)) $("#more-filters").open = true;
  const perPage = $("#per-page");
  if (![...perPage.options].some((o) => o.value === String(state.per_page))) {
    perPage.append(h("option", { value: String(state.per_page) }, String(state.per_page)));
  }
  perPage.value = String(state.per_page);
}

function readForm() {
  const form = $("#filters");
  const filters = {};
  for (const key of FILTER_KEYS) {
    const input = form.elements[key];
    if (!input) continue;
    if (input.type === "checkbox") {
      if (!input.checked && form.elements.directory.value.trim()) filters[key] = "false";
    } else if (input.value.trim() !== "") {
      filters[key] = input.dataset.scale ? String(Math.round(Number(input.value) * Number(input.dataset.scale)))
        : input.value.trim();
    }
  }
  return filters;
}

// ---- table --------------------------------------------------------------------------------

async function load({ push = false } = {}) {
  writeUrl(push);
  const tbody = $("#file-rows");
  tbody.setAttribute("aria-busy", "true");
  let data;
  const params = listParams();
  try {
    data = await api.get(withQuery("/api/files", params));
  } catch (err) {
    if (params.cursor && err.status === 400) {
      // A cursor the server no longer takes (say, after an upgrade): forget them and load by number.
      pageCursors.clear();
      return load();
    }
    tbody.removeAttribute("aria-busy");
    clear(tbody, h("tr", {}, h("td", { colspan: "10", class: "text-danger" }, `Could not list files: ${errorText(err)}`)));
    return;
  }
  tbody.removeAttribute("aria-busy");
  lastList = data;
  const lastPage = Math.max(1, Math.ceil(data.total / state.per_page));
  if (state.page > lastPage && data.total > 0) {
    state.page = lastPage;
    return load();
  }
  if (data.next) pageCursors.set(state.page + 1, data.next);
  else pageCursors.delete(state.page + 1);
  renderSummary(data.summary);
  renderRows(data.items);
  renderPager({ total: data.total, hasNext: Boolean(data.next), page: state.page, perPage: state.per_page,
    onPage: (page) => { state.page = page; load({ push: true }); } });
  renderSortHeaders();
  renderEmpty(data.total);
  renderSelection();
}

function renderRows(items) {
  const isSelected = (file) => selection.mode === "filter" || selection.ids.has(file.id);
  drawRows(items, { isSelected, onToggle: toggleRow });
  $("#select-page").checked = items.length > 0 && items.every(isSelected);
}

function renderSortHeaders() {
  for (const button of $$(".sort-button")) {
    const active = button.dataset.sort === state.sort;
    const th = button.closest("th");
    th.setAttribute("aria-sort", active ? (state.order === "asc" ? "ascending" : "descending") : "none");
    const label = button.textContent.replace(/ [▲▼]$/, "");
    button.textContent = active ? `${label} ${state.order === "asc" ? "▲" : "▼"}` : label;
  }
}

function renderEmpty(total) {
  const empty = $("#empty");
  const filtered = Object.keys(state.filters).length > 0;
  empty.classList.toggle("d-none", total > 0);
  if (total > 0) return;
  clear(empty, filtered
    ? [h("p", { class: "fs-5" }, "No files match these filters."),
      h("button", { type: "button", class: "btn btn-outline-secondary", onclick: resetFilters }, "Clear the filters")]
    : [h("p", { class: "fs-5" }, "Import a folder to start."),
      h("p", {}, "Enter a folder path above (or Browse… for one) and press Import, or upload files: videos and "
        + "photos are listed here with thumbnails, then you can generate proxies and analyse them.")]);
}

// ---- selection ----------------------------------------------------------------------------

function toggleRow(id, on) {
  if (selection.mode === "filter") {
    // Leaving "all matching": keep the visible rows selected except the one unticked.
    selection = { mode: "ids", ids: new Set(lastList.items.map((f) => f.id)), filter: null, count: 0 };
  }
  if (on) selection.ids.add(id); else selection.ids.delete(id);
  $("#select-page").checked = lastList.items.every((f) => selection.ids.has(f.id));
  renderSelection();
}

function selectedCount() {
  return selection.mode === "filter" ? selection.count : selection.ids.size;
}

function selectionTarget() {
  return selection.mode === "filter" ? { filter: selection.filter } : { file_ids: [...selection.ids] };
}

function renderSelection() {
  const count = selectedCount();
  const text = $("#selection-text");
  text.textContent = count === 0 ? "No files selected"
    : selection.mode === "filter" ? `All ${fmtNumber(count)} files matching this filter are selected`
      : `${fmtNumber(count)} file${count === 1 ? "" : "s"} selected`;
  const all = $("#select-all-matching");
  const pageSelected = lastList && lastList.items.length && lastList.items.every((f) => selection.ids.has(f.id));
  if (selection.mode === "filter") {
    all.textContent = "Clear selection";
    all.classList.remove("d-none");
  } else if (pageSelected && lastList.total > lastList.items.length) {
    all.textContent = `Select all ${fmtNumber(lastList.total)} files matching this filter`;
    all.classList.remove("d-none");
  } else if (count > 0) {
    all.textContent = "Clear selection";
    all.classList.remove("d-none");
  } else {
    all.classList.add("d-none");
  }
  for (const id of ["#action-proxies", "#action-analyze", "#action-delete"]) $(id).disabled = count === 0;
}

function onSelectAllMatching() {
  const pageSelected = lastList && lastList.items.every((f) => selection.ids.has(f.id));
  if (selection.mode === "ids" && pageSelected && lastList.total > lastList.items.length) {
    selection = { mode: "filter", ids: new Set(), filter: { ...state.filters }, count: lastList.total };
  } else {
    selection = { mode: "ids", ids: new Set(), filter: null, count: 0 };
  }
  renderRows(lastList.items);
  renderSelection();
}

function clearSelection() {
  selection = { mode: "ids", ids: new Set(), filter: null, count: 0 };
}

// ---- actions ------------------------------------------------------------------------------

async function generateProxies() {
  try {
    const { task_id: taskId } = await api.post("/api/files/proxies", { ...selectionTarget(), force: false });
    toast(`Generating proxies for ${fmtNumber(selectedCount())} file(s).`);
    trackTask($("#activity"), taskId, { title: "Generating proxies", onDone: () => load() });
  } catch (err) {
    toast(errorText(err), "error");
  }
}

async function deleteSelected() {
  const count = selectedCount();
  const ok = await confirmDialog({
    title: `Remove ${fmtNumber(count)} file${count === 1 ? "" : "s"} from the library?`,
    body: [h("p", {}, "Their records, proxies, thumbnails and analysis results are removed from the app."),
      h("p", { class: "fw-semibold mb-0" }, "The original files stay on disk, untouched."),
      h("p", { class: "small text-muted mb-0" }, "Importing the folder again brings them back.")],
    confirmLabel: "Remove from library", danger: true,
  });
  if (!ok) return;
  let ids = [...selection.ids];
  if (selection.mode === "filter") {
    // Deletion is per file in the API; page through the filter on the server, 500 at a time, by cursor.
    ids = [];
    let cursor;
    do {
      const data = await api.get(withQuery("/api/files", { ...selection.filter, per_page: 500, sort: "name", cursor }));
      ids.push(...data.items.map((f) => f.id));
      cursor = data.next;
    } while (cursor);
  }
  let removed = 0;
  let failed = 0;
  const status = h("div", { class: "alert alert-info py-2" }, `Removing 0 of ${ids.length}…`);
  $("#activity").prepend(status);
  for (const id of ids) {
    try {
      await api.del(`/api/files/${id}`);
      removed += 1;
    } catch {
      failed += 1;
    }
    status.textContent = `Removing ${removed + failed} of ${ids.length}…`;
  }
  status.remove();
  toast(`${removed} file(s) removed from the library${failed ? `, ${failed} failed` : ""}. Originals stay on disk.`,
    failed ? "error" : "success");
  clearSelection();
  load();
}

function analyzeSelected() {
  openAnalyzeDialog({
    target: selectionTarget(),
    count: selectedCount(),
    onSubmitted: (outcome) => {
      if (outcome.kind === "batch") {
        toast("Analysis submitted.", "success");
        location.href = `/batches/${outcome.batch.id}`;
        return;
      }
      toast(`Analysing ${outcome.task.files} file(s) on demand.`, "success");
      trackTask($("#activity"), outcome.task.task_id, { title: "Analysing (on demand)", onDone: () => load() });
      load();
    },
  });
}

// ---- tasks --------------------------------------------------------------------------------

async function resumeActiveTasks() {
  const titles = { import: "Import", proxies: "Generating proxies", analyze: "Analysing (on demand)" };
  const tasks = await activeTasks();
  for (const task of tasks) {
    trackTask($("#activity"), task.id, { title: titles[task.kind] || task.kind, onDone: () => load() });
  }
  return tasks;
}

// ---- wiring -------------------------------------------------------------------------------

function resetFilters() {
  state.filters = {};
  state.page = 1;
  clearSelection();
  fillForm();
  load({ push: true });
}

function init() {
  initAnalyzeDialog();
  fillForm();
  initImportPanel({ reload: () => load() });
  initUploadPanel({ reload: () => load(), reveal: showImportPanel });
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters = readForm();
    state.page = 1;
    clearSelection();
    load({ push: true });
  });
  $("#filters").addEventListener("change", (event) => {
    if (event.target.tagName === "SELECT") $("#filters").requestSubmit();
  });
  $("#reset-filters").addEventListener("click", resetFilters);
  $("#per-page").addEventListener("change", (e) => {
    state.per_page = parseInt(e.target.value, 10);
    state.page = 1;
    load({ push: true });
  });
  for (const button of $$(".sort-button")) {
    button.addEventListener("click", () => {
      const key = button.dataset.sort;
      state.order = state.sort === key && state.order === "asc" ? "desc" : "asc";
      state.sort = key;
      state.page = 1;
      load({ push: true });
    });
  }
  $("#select-page").addEventListener("change", (e) => {
    if (selection.mode === "filter") clearSelection();
    for (const file of lastList.items) {
      if (e.target.checked) selection.ids.add(file.id); else selection.ids.delete(file.id);
    }
    renderRows(lastList.items);
    renderSelection();
  });
  $("#select-all-matching").addEventListener("click", onSelectAllMatching);
  $("#action-proxies").addEventListener("click", generateProxies);
  $("#action-analyze").addEventListener("click", analyzeSelected);
  $("#action-delete").addEventListener("click", deleteSelected);
  window.addEventListener("popstate", () => {
    state = readState();
    fillForm();
    load();
  });
  Promise.all([load(), resumeActiveTasks()]).then(([, tasks]) => {
    const hasImport = tasks.some((t) => t.kind === "import");
    if (lastList && lastList.total > 0 && !hasImport) foldImportPanel();
  });
}

init();
