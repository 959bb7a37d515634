// One submission: progress, chunk phases, costs, per-file outcomes and actions; live while active.
import { api } from "./api.js";
import { h, clear, $, fmtDate, fmtCost, fmtNumber, fmtBytes, fmtSpan, progressBar, statusBadge, notice, toast, errorText,
  confirmDialog, since, Poller } from "./dom.js";
import { chunkPhase, chunkActive, recordProgress, submissionActive, costOf, etaText } from "./batch_common.js";

const batchId = Number($("#batch-page").dataset.batchId);
const poller = new Poller(load, 4000);
let batch = null;
let onlyFailed = false;
let onDemandTask = null;
let stageTask = null;
const FILE_ROWS = 500;

async function load() {
  const body = $("#batch-body");
  try {
    batch = await api.get(`/api/batch/${batchId}`);
  } catch (err) {
    if (err.missingEndpoint) {
      clear(body, notice("Batch submissions are not available in this version yet.", "secondary"));
    } else if (err.status === 404) {
      clear(body, notice(`Submission #${batchId} does not exist.`, "warning"));
    } else {
      clear(body, notice(`Could not load this submission: ${errorText(err)}`, "danger"));
      return true;
    }
    $("#live-note").textContent = "";
    return false;
  }
  [onDemandTask, stageTask] = await Promise.all([loadOnDemandTask(), loadTask(batch.stage_task_id)]);
  render();
  const running = (task) => task && ["QUEUED", "RUNNING"].includes(task.status);
  const active = submissionActive(batch) || running(onDemandTask) || running(stageTask);
  $("#live-note").textContent = active ? "Updating live every few seconds" : "Finished";
  return active;
}

// Staging (proxy copies and manifests) runs as a background job before the batch jobs are created.
function stagingSection() {
  if (!stageTask || ["SUCCEEDED"].includes(stageTask.status)) return null;
  const active = ["QUEUED", "RUNNING"].includes(stageTask.status);
  return h("section", { class: "card mb-3", "aria-label": "Staging" }, h("div", { class: "card-body" },
    h("h2", { class: "h6" }, "Staging the files for Bedrock ", statusBadge(stageTask.status)),
    progressBar(stageTask.progress_percent, { label: "Staging progress", striped: active }),
    h("div", { class: "small text-muted mt-1" }, `${stageTask.done} of ${stageTask.total ?? "?"}`,
      stageTask.eta_seconds ? ` · about ${fmtSpan(stageTask.eta_seconds)} left` : ""),
    stageTask.error ? h("div", { class: "small text-danger" }, stageTask.error) : null));
}

async function loadTask(taskId) {
  if (!taskId) return null;
  try {
    return await api.get(`/api/tasks/${encodeURIComponent(taskId)}`);
  } catch {
    return null;
  }
}

async function loadOnDemandTask() {
  const part = batch.on_demand || {};
  if (!part.task_id) return null;
  try {
    return await api.get(`/api/tasks/${encodeURIComponent(part.task_id)}`);
  } catch {
    return null;
  }
}

function render() {
  clear($("#batch-status"), statusBadge(batch.status));
  const chunks = batch.chunks || [];
  const files = batch.files || [];
  // PARTIAL: a long video merged from its segments with some missing; retry asks those segments again.
  const failedFiles = files.filter((f) => ["FAILED", "PARTIAL", "REJECTED"].includes(String(f.status).toUpperCase()));
  const active = submissionActive(batch);
  $("#batch-cancel").disabled = !active;
  $("#batch-retry").disabled = active || !(files.some((f) => ["FAILED", "PARTIAL"].includes(String(f.status).toUpperCase()))
    || chunks.some((c) => c.records_failed));
  $("#batch-cleanup").disabled = active;
  clear($("#batch-body"), overview(), stagingSection(), chunkSection(chunks), onDemandSection(onDemandTask),
    fileSection(files, failedFiles));
}

function stat(label, ...value) {
  return h("div", { class: "col" }, h("div", { class: "small text-muted" }, label), h("div", { class: "fw-semibold" }, ...value));
}

function overview() {
  const progress = recordProgress(batch);
  const cost = costOf(batch);
  const active = submissionActive(batch);
  const elapsedEnd = batch.completed_at ? new Date(batch.completed_at).getTime() : Date.now();
  const elapsed = batch.created_at ? (elapsedEnd - new Date(batch.created_at).getTime()) / 1000 : null;
  return h("section", { class: "card mb-3", "aria-label": "Overview" }, h("div", { class: "card-body" },
    h("div", { class: "row row-cols-2 row-cols-md-4 g-2 mb-3" },
      stat("Model", batch.model || "–"),
      stat("Mode", String(batch.mode || "–").replace("_", " ")),
      stat("Types", (batch.analysis_types || []).join(", ") || "–"),
      stat("Submitted", fmtDate(batch.created_at)),
      stat("Files / records", `${fmtNumber(batch.files_total)} / ${fmtNumber(batch.records_total)}`),
      stat(active ? "Running for" : "Took", fmtSpan(elapsed)),
      active && batch.eta ? stat("Expected to finish", etaText(batch.eta)) : null,
      stat("Estimated cost", fmtCost(cost.estimated)),
      stat("Actual cost", h("span", { id: "actual-cost" }, fmtCost(cost.actual))),
      batch.retry_of ? stat("Retry of", h("a", { href: `/batches/${batch.retry_of}` }, `submission #${batch.retry_of}`)) : null,
      batch.cancel_requested ? stat("Cancel", "requested") : null),
    progressBar(progress.percent, { label: "Overall progress", striped: active }),
    h("div", { class: "small text-muted mt-1", id: "overall-progress" },
      `${fmtNumber(progress.done)} of ${fmtNumber(progress.total)} records done · ${fmtNumber(progress.succeeded)} succeeded`,
      progress.failed ? h("span", { class: "text-danger" }, ` · ${fmtNumber(progress.failed)} failed`) : null)));
}

function expiresIn(chunk) {
  if (!chunk.expires_at || !chunkActive(chunk)) return "–";
  const left = -since(chunk.expires_at);
  return left > 0 ? fmtSpan(left) : "expired";
}

function chunkElapsed(chunk) {
  if (!chunk.submitted_at) return "–";
  const end = chunk.completed_at ? new Date(chunk.completed_at).getTime() : Date.now();
  return fmtSpan((end - new Date(chunk.submitted_at).getTime()) / 1000);
}

function chunkSection(chunks) {
  if (!chunks.length) {
    return h("section", { class: "card mb-3" }, h("div", { class: "card-body" }, h("h2", { class: "h6" }, "Batch jobs"),
      h("div", { class: "text-muted small" }, "Nothing in this submission runs as a batch job (see the on-demand part below).")));
  }
  const rows = chunks.map((c) => {
    const total = c.records_total || 0;
    const processed = c.records_processed || 0;
    const failed = c.records_failed || 0;
    const active = chunkActive(c);
    const phase = chunkPhase(c);
    return h("tr", { dataset: { chunkId: c.id } },
      h("td", {}, `${(c.index ?? 0) + 1}`),
      h("td", {}, statusBadge(phase), c.provider_status ? h("div", { class: "small text-muted" }, `Bedrock: ${c.provider_status}`) : null),
      h("td", { style: { minWidth: "9rem" } }, progressBar(total ? (100 * processed) / total : (active ? 0 : 100), { label: `Chunk ${(c.index ?? 0) + 1} progress`, striped: active }),
        h("div", { class: "small text-muted" }, `${fmtNumber(processed)} / ${fmtNumber(total)}`,
          c.records_succeeded !== null && c.records_succeeded !== undefined ? ` · ${fmtNumber(c.records_succeeded)} ok` : "",
          failed ? h("span", { class: "text-danger" }, ` · ${fmtNumber(failed)} failed`) : null)),
      h("td", { class: "small text-nowrap" }, chunkElapsed(c)),
      h("td", { class: "small text-nowrap" }, etaText(c.eta) || "–"),
      h("td", { class: "small text-nowrap" }, expiresIn(c)),
      h("td", { class: "small text-nowrap" }, `${fmtCost(c.estimated_cost_usd)} / ${fmtCost(c.actual_cost_usd)}`),
      h("td", { class: "small text-break-all" }, c.job_name || "–", c.job_id ? h("div", { class: "text-muted" }, c.job_id) : null),
      h("td", { class: "small" }, c.last_error ? h("span", { class: "text-danger chunk-error" }, c.last_error) : "",
        c.status === "RESULT_FETCH_FAILED" ? h("div", {}, h("button", { type: "button", class: "btn btn-sm btn-outline-primary mt-1",
          onclick: (e) => retryFetch(c, e.target) }, "Retry result fetch")) : null));
  });
  return h("section", { class: "card mb-3", "aria-labelledby": "chunks-title" }, h("div", { class: "card-body" },
    h("h2", { class: "h6", id: "chunks-title" }, `Batch jobs (${chunks.length})`),
    h("div", { class: "table-responsive" }, h("table", { class: "table table-sm align-middle mb-0" },
      h("thead", {}, h("tr", {}, ["#", "Phase", "Records", "Elapsed", "Expected finish", "Expires in", "Cost (est. / actual)", "Job", "Problems"]
        .map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows)))));
}

function onDemandSection(task) {
  const part = batch.on_demand || {};
  const count = Array.isArray(part.files) ? part.files.length : part.files;
  if (!count) return null;
  return h("section", { class: "card mb-3", "aria-labelledby": "od-title" }, h("div", { class: "card-body" },
    h("h2", { class: "h6", id: "od-title" }, `On demand (${fmtNumber(count)} file${count === 1 ? "" : "s"})`),
    part.reason ? h("div", { class: "small text-muted mb-1" }, part.reason) : null,
    task ? [progressBar(task.progress_percent, { label: "On-demand progress", striped: ["QUEUED", "RUNNING"].includes(task.status) }),
      h("div", { class: "small text-muted mt-1" }, statusBadge(task.status), ` ${task.done} of ${task.total ?? "?"}`,
        task.eta_seconds ? ` · about ${fmtSpan(task.eta_seconds)} left` : "")]
      : h("div", { class: "small text-muted" }, "Waiting to start.")));
}

function fileSection(files, failedFiles) {
  if (!files.length) return null;
  const shown = (onlyFailed ? failedFiles : [...failedFiles, ...files.filter((f) => !failedFiles.includes(f))]).slice(0, FILE_ROWS);
  const toggle = h("div", { class: "form-check form-switch ms-auto" },
    h("input", { class: "form-check-input", type: "checkbox", id: "only-failed", checked: onlyFailed,
      onchange: (e) => { onlyFailed = e.target.checked; render(); } }),
    h("label", { class: "form-check-label small", for: "only-failed" }, `Only failed (${failedFiles.length})`));
  return h("section", { class: "card mb-3", "aria-labelledby": "files-title" }, h("div", { class: "card-body" },
    h("div", { class: "d-flex align-items-center mb-2" }, h("h2", { class: "h6 mb-0", id: "files-title" }, `Files (${fmtNumber(files.length)})`), toggle),
    h("div", { class: "table-responsive" }, h("table", { class: "table table-sm align-middle mb-0", id: "file-outcomes" },
      h("thead", {}, h("tr", {}, ["File", "Outcome", "Error"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, shown.map((f) => h("tr", { dataset: { fileId: f.file_id } },
        h("td", { class: "text-break-all" }, h("a", { href: `/files/${f.file_id}` }, f.name || `file ${f.file_id}`)),
        h("td", {}, statusBadge(f.status)),
        h("td", { class: "small text-danger text-break-all file-error" }, errorMessage(f.error))))))),
    files.length > FILE_ROWS ? h("div", { class: "small text-muted mt-1" }, `Showing ${FILE_ROWS} of ${fmtNumber(files.length)}.`) : null));
}

function errorMessage(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  return [error.code, error.message].filter(Boolean).join(": ");
}

// ---- actions ------------------------------------------------------------------------------

async function cancel() {
  const ok = await confirmDialog({ title: `Cancel submission #${batchId}?`,
    body: "Running batch jobs are stopped and queued ones never start. Results already produced are still stored "
      + "(Bedrock bills the records it processed).", confirmLabel: "Cancel submission", danger: true });
  if (!ok) return;
  try {
    await api.post(`/api/batch/${batchId}/cancel`, {});
    toast("Cancelling…");
    restart();
  } catch (err) {
    toast(errorText(err), "error");
  }
}

async function retryFailed() {
  try {
    const fresh = await api.post(`/api/batch/${batchId}/retry-failed`, {});
    toast("Retrying the failed records as a new submission.", "success");
    if (fresh && fresh.id) location.href = `/batches/${fresh.id}`;
  } catch (err) {
    toast(errorText(err), "error");
  }
}

async function retryFetch(chunk, button) {
  button.disabled = true;
  try {
    await api.post(`/api/batch/chunks/${chunk.id}/retry-fetch`, {});
    toast("Result fetch queued again.", "success");
    restart();
  } catch (err) {
    toast(err.missingEndpoint ? "Retrying a result fetch is not available in this version yet." : errorText(err), "error");
    button.disabled = false;
  }
}

async function cleanup() {
  // A per-submission cleanup when the API has one; otherwise the storage-wide one (finished jobs only).
  let url = `/api/batch/${batchId}/cleanup`;
  let preview;
  try {
    preview = await api.post(url, { dry_run: true });
  } catch (err) {
    if (!err.missingEndpoint) return toast(errorText(err), "error");
    url = "/reports/api/storage/batch/cleanup";
    try {
      preview = await api.post(url, { dry_run: true });
    } catch (err2) {
      return toast(err2.missingEndpoint ? "Staging cleanup is not available in this version yet." : errorText(err2), "error");
    }
  }
  const scope = url.startsWith("/reports") ? "every finished submission" : "this submission";
  const ok = await confirmDialog({ title: "Clean up batch staging?",
    body: [h("p", {}, `Deletes the staged proxy copies, manifests and outputs of ${scope}: `
      + `${fmtNumber(preview.objects_deleted)} object(s), ${fmtBytes(preview.bytes_freed)} from ${fmtNumber(preview.jobs_cleaned)} job(s).`),
    h("p", { class: "mb-0" }, "Your media, proxies and stored results are not touched.")],
    confirmLabel: "Clean up", danger: true });
  if (!ok) return;
  try {
    const done = await api.post(url, { dry_run: false });
    toast(`Freed ${fmtBytes(done.bytes_freed)} (${fmtNumber(done.objects_deleted)} objects).`, "success");
  } catch (err) {
    toast(errorText(err), "error");
  }
}

function restart() {
  poller.stop();
  poller.start(300);
}

$("#batch-cancel").addEventListener("click", cancel);
$("#batch-retry").addEventListener("click", retryFailed);
$("#batch-cleanup").addEventListener("click", cleanup);
$("#batch-refresh").addEventListener("click", restart);
poller.start();
