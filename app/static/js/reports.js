// The Reports page: usage over a date range (chart and tables), batch staging storage, the poller.
import { api, withQuery } from "./api.js";
import { h, clear, $, $$, fmtBytes, fmtCost, fmtNumber, fmtPercent, fmtDate, statusBadge, notice, toast, errorText,
  confirmDialog, Poller } from "./dom.js";

let chart = null;

// ---- date range ---------------------------------------------------------------------------

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function readRange() {
  const p = new URLSearchParams(location.search);
  if (p.get("from") || p.get("to")) return { from: p.get("from") || "", to: p.get("to") || "", days: null };
  const days = [1, 7, 30].includes(Number(p.get("days"))) ? Number(p.get("days")) : 7;
  const to = new Date();
  const from = new Date(Date.now() - (days - 1) * 86400000);
  return { from: isoDay(from), to: isoDay(to), days };
}

let range = readRange();

function showRange() {
  $$("#range-buttons button").forEach((b) => {
    const on = Number(b.dataset.days) === range.days;
    b.classList.toggle("active", on);
    b.setAttribute("aria-pressed", on ? "true" : "false");
  });
  $("#range-from").value = range.from;
  $("#range-to").value = range.to;
}

function setRange(next, push = true) {
  range = next;
  const url = range.days ? withQuery("/reports", { days: range.days === 7 ? "" : range.days })
    : withQuery("/reports", { from: range.from, to: range.to });
  if (push && url !== location.pathname + location.search) history.pushState(null, "", url);
  showRange();
  loadUsage();
}

// ---- usage --------------------------------------------------------------------------------

function metric(label, value, note) {
  return h("div", { class: "col" }, h("div", { class: "card metric-card h-100" }, h("div", { class: "card-body py-2" },
    h("div", { class: "small text-muted" }, label), h("div", { class: "metric-value" }, value),
    note ? h("div", { class: "small text-muted" }, note) : null)));
}

function simpleTable(headers, rows, id) {
  if (!rows.length) return h("div", { class: "text-muted small" }, "Nothing in this range.");
  return h("div", { class: "table-responsive" }, h("table", { class: "table table-sm small mb-0", id },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

async function loadUsage() {
  let data;
  try {
    data = await api.get(withQuery("/api/usage", { from: range.from, to: range.to }));
  } catch (err) {
    clear($("#usage-error"), notice(err.missingEndpoint ? "Usage reports are not available in this version yet."
      : `Could not load the report: ${errorText(err)}`, err.missingEndpoint ? "secondary" : "danger"));
    return;
  }
  clear($("#usage-error"));
  const t = data.totals;
  clear($("#metrics"),
    metric("Cost", fmtCost(t.cost_usd), `${data.from} – ${data.to}`),
    data.transcription ? metric("Transcription", fmtCost(data.transcription.cost_usd), `${fmtNumber(data.transcription.minutes)} min of audio · ${fmtNumber(data.transcription.jobs)} job(s)`) : null,
    metric("Tokens", fmtNumber(t.tokens_input + t.tokens_output), `${fmtNumber(t.tokens_input)} in / ${fmtNumber(t.tokens_output)} out`),
    metric("Analysis runs", fmtNumber(t.runs), `${fmtNumber(t.completed)} ok · ${fmtNumber(t.failed)} failed · ${fmtNumber(t.pending)} pending`),
    metric("Success rate", fmtPercent(t.success_rate), "of finished runs"),
    metric("Files analysed", fmtNumber(t.files_analysed)),
    metric("Submissions", fmtNumber(data.submissions.count), `${fmtNumber(data.submissions.files)} files`));
  drawChart(data.per_day);
  clear($("#per-day-table"), simpleTable(["Day", "Runs", "Input tokens", "Output tokens", "Cost"],
    data.per_day.filter((d) => d.runs).map((d) => [d.day, fmtNumber(d.runs), fmtNumber(d.tokens_input), fmtNumber(d.tokens_output), fmtCost(d.cost_usd)])));
  const groupRows = (list, key) => list.map((m) => [m[key], fmtNumber(m.runs), fmtPercent(m.success_rate),
    fmtNumber(m.tokens_input + m.tokens_output), fmtCost(m.cost_usd)]);
  clear($("#per-model"), simpleTable(["Model", "Runs", "Success", "Tokens", "Cost"], groupRows(data.per_model, "model"), "per-model-table"));
  clear($("#per-mode"), simpleTable(["Mode", "Runs", "Success", "Tokens", "Cost"],
    groupRows(data.per_mode.map((m) => ({ ...m, mode: m.mode.replace("_", " ") })), "mode")));
  const s = data.submissions;
  const diff = s.actual_cost_usd - s.estimated_cost_usd;
  clear($("#estimated"),
    h("div", { class: "d-flex flex-wrap gap-4 mb-2" },
      h("div", {}, h("div", { class: "small text-muted" }, "Estimated"), h("div", { class: "fs-5 fw-semibold" }, fmtCost(s.estimated_cost_usd))),
      h("div", {}, h("div", { class: "small text-muted" }, "Actual"), h("div", { class: "fs-5 fw-semibold" }, fmtCost(s.actual_cost_usd))),
      h("div", {}, h("div", { class: "small text-muted" }, "Difference"),
        h("div", { class: `fs-5 fw-semibold ${diff > 0 ? "text-danger" : "text-success"}` }, `${diff > 0 ? "+" : ""}${fmtCost(diff)}`))),
    estimateError(s.estimate_error),
    simpleTable(["#", "Submitted", "Status", "Model", "Files", "Estimated", "Actual", "Estimate off by"], s.items.map((b) => [
      h("a", { href: `/batches/${b.id}` }, `#${b.id}`), fmtDate(b.created_at), statusBadge(b.status), b.model,
      fmtNumber(b.files_total), fmtCost(b.estimated_cost_usd), fmtCost(b.actual_cost_usd), errorCell(b)])),
    h("div", { class: "small text-muted mt-1" }, "On-demand analysis started from a file has no estimate; its cost is in the totals above."));
  const j = data.tasks;
  clear($("#tasks"),
    h("div", { class: "small mb-2" }, `${fmtNumber(j.total)} background task(s): ${fmtNumber(j.succeeded)} succeeded, ${fmtNumber(j.failed)} failed`,
      j.succeeded + j.failed ? ` (${fmtPercent(j.succeeded / (j.succeeded + j.failed))} success)` : ""),
    simpleTable(["Kind", "Total", "Succeeded", "Failed", "Cancelled", "Active"], j.by_kind.map((k) => [k.kind, fmtNumber(k.total),
      fmtNumber(k.succeeded), fmtNumber(k.failed), fmtNumber(k.cancelled), fmtNumber(k.active)])));
}

function drawChart(perDay) {
  const canvas = $("#usage-chart");
  if (!window.Chart) {
    clear(canvas.parentElement, notice("The chart library did not load; see the table below.", "warning"));
    return;
  }
  const labels = perDay.map((d) => d.day);
  const datasets = [
    { type: "bar", label: "Input tokens", data: perDay.map((d) => d.tokens_input), backgroundColor: "#0d6efd", stack: "tokens", yAxisID: "tokens" },
    { type: "bar", label: "Output tokens", data: perDay.map((d) => d.tokens_output), backgroundColor: "#6f42c1", stack: "tokens", yAxisID: "tokens" },
    { type: "line", label: "Cost (USD)", data: perDay.map((d) => d.cost_usd), borderColor: "#dc3545", backgroundColor: "#dc3545", yAxisID: "cost", tension: 0.2 },
  ];
  if (chart) {
    chart.data.labels = labels;
    chart.data.datasets = datasets;
    chart.update();
    return;
  }
  chart = new window.Chart(canvas, {
    data: { labels, datasets },
    options: {
      maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
      scales: {
        tokens: { type: "linear", position: "left", stacked: true, beginAtZero: true, title: { display: true, text: "tokens" } },
        cost: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "USD" } },
        x: { stacked: true },
      },
    },
  });
}

// ---- batch storage ------------------------------------------------------------------------

function cleanupOptions(dryRun) {
  const body = { dry_run: dryRun, include_failed: $("#storage-include-failed").checked };
  const older = $("#storage-older").value.trim();
  if (older !== "") body.older_than_days = Number(older);
  return body;
}

function storageButtons(enabled) {
  ["#storage-preview", "#storage-clean"].forEach((s) => { $(s).disabled = !enabled; });
}

async function loadStorage() {
  const box = $("#storage");
  box.setAttribute("aria-busy", "true");
  let data;
  try {
    data = await api.get("/reports/api/storage/batch");
  } catch (err) {
    box.removeAttribute("aria-busy");
    storageButtons(false);
    clear(box, notice(err.missingEndpoint ? "Batch storage reporting is not available in this version yet."
      : `Could not measure the storage: ${errorText(err)}`, err.missingEndpoint ? "secondary" : "danger"));
    return;
  }
  box.removeAttribute("aria-busy");
  storageButtons(true);
  const row = (label, part) => [label, fmtNumber(part && part.count), fmtNumber(part && (part.objects ?? part.count)),
    fmtBytes(part && part.bytes)];
  clear(box, simpleTable(["", "Count", "Objects", "Size"], [
    row("Job folders", data.batch_folders), row("Input files", data.input_files), row("Output files", data.output_files)], "storage-table"),
  h("div", { class: "small mt-2" }, `Total ${fmtBytes(data.total_bytes)} · `, h("strong", {}, fmtNumber(data.cleanable_jobs)),
    ` job${data.cleanable_jobs === 1 ? "" : "s"} ready to clean`));
}

function cleanupSummary(r) {
  return [h("div", { class: "small", id: "cleanup-summary" },
    `${r.dry_run ? "Preview (nothing deleted): would clean" : "Cleaned"} ${fmtNumber(r.jobs_cleaned)} of ${fmtNumber(r.jobs_processed)} job(s), `
    + `${fmtNumber(r.objects_deleted)} object(s), ${fmtBytes(r.bytes_freed)}.`),
  (r.errors || []).length ? h("ul", { class: "small text-danger mb-0" }, r.errors.slice(0, 20).map((e) =>
    h("li", {}, typeof e === "string" ? e : JSON.stringify(e)))) : null];
}

async function previewCleanup() {
  try {
    const r = await api.post("/reports/api/storage/batch/cleanup", cleanupOptions(true));
    clear($("#cleanup-result"), h("div", { class: "alert alert-info py-2 mb-0" }, cleanupSummary(r)));
    return r;
  } catch (err) {
    clear($("#cleanup-result"), notice(errorText(err), "danger"));
    return null;
  }
}

async function runCleanup() {
  const preview = await previewCleanup();
  if (!preview) return;
  if (!preview.jobs_cleaned) return toast("Nothing to clean up.");
  const ok = await confirmDialog({ title: "Clean up batch staging storage?",
    body: [h("p", {}, `Deletes ${fmtNumber(preview.objects_deleted)} staged object(s) (${fmtBytes(preview.bytes_freed)}) from `
      + `${fmtNumber(preview.jobs_cleaned)} finished job(s).`),
    h("p", { class: "mb-0" }, "Only copies made for batch jobs are removed: your media, proxies and stored results stay.")],
    confirmLabel: "Clean up", danger: true });
  if (!ok) return;
  try {
    const r = await api.post("/reports/api/storage/batch/cleanup", cleanupOptions(false));
    clear($("#cleanup-result"), h("div", { class: "alert alert-success py-2 mb-0" }, cleanupSummary(r)));
    loadStorage();
  } catch (err) {
    toast(errorText(err), "error");
  }
}

// ---- poller -------------------------------------------------------------------------------

const pollerPoll = new Poller(loadPoller, 10000);

async function loadPoller() {
  const box = $("#poller");
  let s;
  try {
    s = await api.get("/api/nova/batch/poller/status");
  } catch (err) {
    ["#poller-start", "#poller-stop", "#poller-run"].forEach((x) => { $(x).disabled = true; });
    clear(box, notice(err.missingEndpoint ? "The batch poller is not available in this version yet."
      : `Could not read the poller status: ${errorText(err)}`, err.missingEndpoint ? "secondary" : "danger"));
    return !err.missingEndpoint;
  }
  $("#poller-start").disabled = s.running || s.enabled === false;
  $("#poller-stop").disabled = !s.running;
  $("#poller-run").disabled = false;
  const kv = (label, value) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value));
  const errors = s.errors || [];
  clear(box,
    h("div", { class: "mb-2" }, statusBadge(s.running ? "RUNNING" : "STOPPED"), s.enabled === false
      ? h("span", { class: "small text-muted ms-2" }, "disabled by configuration (BATCH_POLLER_ENABLED)") : null),
    h("table", { class: "table table-sm kv mb-2" }, h("tbody", {},
      kv("Last poll", s.last_poll_time ? fmtDate(s.last_poll_time) : "never"),
      kv("Polls", fmtNumber(s.polls_count)),
      kv("Jobs checked", fmtNumber(s.jobs_checked)),
      kv("Completed / failed", `${fmtNumber(s.jobs_completed)} / ${fmtNumber(s.jobs_failed)}`),
      kv("Results fetched", fmtNumber(s.results_fetched)),
      kv("Cleanups", fmtNumber(s.cleanups_performed)),
      kv("Intervals", `every ${s.poll_interval ?? "?"} s; each job every ${s.batch_check_interval ?? "?"} s`),
      kv("Auto cleanup", s.auto_cleanup ? "on" : "off"),
      s.lease_holder ? kv("Lease holder", s.lease_holder) : null)),
    h("div", { class: "small fw-semibold" }, `Recent errors (${errors.length})`),
    errors.length ? h("ul", { class: "small text-danger mb-0", id: "poller-errors" }, errors.slice(-10).reverse().map((e) =>
      h("li", {}, typeof e === "string" ? e : `${e.time ? `${fmtDate(e.time)}: ` : ""}${e.message || e.error || JSON.stringify(e)}`)))
      : h("div", { class: "small text-muted" }, "None."));
  return true;
}

async function pollerAction(path, label) {
  try {
    const r = await api.post(`/api/nova/batch/poller/${path}`, {});
    toast(path === "process-completed" ? `Cycle done${r && typeof r === "object" ? `: ${summariseCycle(r)}` : ""}` : `${label}.`, "success");
  } catch (err) {
    toast(errorText(err), "error");
  }
  loadPoller();
}

function summariseCycle(r) {
  const parts = Object.entries(r).filter(([, v]) => typeof v === "number" && v).map(([k, v]) => `${v} ${k.replaceAll("_", " ")}`);
  return parts.length ? parts.join(", ") : "nothing to do";
}

// ---- wiring -------------------------------------------------------------------------------

$$("#range-buttons button").forEach((b) => b.addEventListener("click", () => {
  const days = Number(b.dataset.days);
  setRange({ days, from: isoDay(new Date(Date.now() - (days - 1) * 86400000)), to: isoDay(new Date()) });
}));
$("#custom-range").addEventListener("submit", (e) => {
  e.preventDefault();
  setRange({ days: null, from: $("#range-from").value, to: $("#range-to").value });
});
window.addEventListener("popstate", () => { range = readRange(); showRange(); loadUsage(); });
$("#storage-refresh").addEventListener("click", loadStorage);
$("#storage-preview").addEventListener("click", previewCleanup);
$("#storage-clean").addEventListener("click", runCleanup);
$("#poller-start").addEventListener("click", () => pollerAction("start", "Poller started"));
$("#poller-stop").addEventListener("click", () => pollerAction("stop", "Poller stopped"));
$("#poller-run").addEventListener("click", () => pollerAction("process-completed", "Cycle run"));
showRange();
loadUsage();
loadStorage();
pollerPoll.start();

// How far a finished submission's estimate was from what it used (tokens when the model costs nothing).
function errorCell(b) {
  if (b.estimate_error_pct === null || b.estimate_error_pct === undefined) return "–";
  const pct = b.estimate_error_pct;
  return h("span", { class: Math.abs(pct) > 25 ? "text-danger" : "", title: `by ${b.estimate_error_by}` },
    `${pct > 0 ? "+" : ""}${pct.toFixed(1)}%`);
}

function estimateError(error) {
  if (!error || !error.submissions) return null;
  const trend = error.running.length > 1 ? ` (after each: ${error.running.map((x) => `${x}%`).join(" → ")})` : "";
  return h("div", { class: "small mb-2", id: "estimate-error" },
    `Estimates were off by ${error.mean_abs_pct}% on average over ${fmtNumber(error.submissions)} finished submission(s)${trend}.`);
}
