// Shared by the Batches list and detail pages: phases, progress, expected finish and "is anything still running".
import { fmtSpan, h, since } from "./dom.js";

export const ACTIVE_SUBMISSION = new Set(["PENDING", "RUNNING", "QUEUED", "SUBMITTED", "IN_PROGRESS", "STAGING", "FETCHING"]);
const ACTIVE_CHUNK = new Set(["STAGING", "QUEUED", "SUBMITTED", "IN_PROGRESS", "FETCHING"]);

const PROVIDER_PHASES = { Submitted: "Submitted", Validating: "Validating", Scheduled: "Scheduled",
  InProgress: "In progress", Stopping: "Stopping", Stopped: "Stopped", Expired: "Expired",
  PartiallyCompleted: "Partially completed", Completed: "Completed", Failed: "Failed" };

const PHASES = { STAGING: "Staging", QUEUED: "Queued", SUBMITTED: "Submitted", IN_PROGRESS: "In progress",
  FETCHING: "Fetching results", COMPLETED: "Completed", PARTIAL: "Partial", FAILED: "Failed",
  CANCELLED: "Cancelled", RESULT_FETCH_FAILED: "Result fetch failed" };

// The phase a person cares about: Bedrock's finer status while the job runs there, ours otherwise.
export function chunkPhase(chunk) {
  if ((chunk.status === "SUBMITTED" || chunk.status === "IN_PROGRESS") && PROVIDER_PHASES[chunk.provider_status]) {
    return PROVIDER_PHASES[chunk.provider_status];
  }
  return PHASES[chunk.status] || String(chunk.status || "Unknown");
}

export function chunkActive(chunk) {
  return ACTIVE_CHUNK.has(chunk.status);
}

export function submissionActive(batch) {
  if (ACTIVE_SUBMISSION.has(batch.status)) return true;
  return (batch.chunks || []).some(chunkActive);
}

const num = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);

// {done, total, succeeded, failed, percent} from record counters (chunks and the on-demand part).
export function recordProgress(batch) {
  if (Number.isFinite(batch.progress_percent)) {
    return { percent: batch.progress_percent, done: batch.records_processed, total: batch.records_total,
      succeeded: batch.records_succeeded, failed: batch.records_failed };
  }
  const chunks = batch.chunks || [];
  const files = batch.files || [];
  const records = batch.records;
  if (records && Number.isFinite(records.completed)) {
    // The submission's own record counters (every type of every run, batch and on demand).
    const done = num(records.completed) + num(records.failed);
    const total = done + num(records.pending);
    return { done, total, succeeded: num(records.completed), failed: num(records.failed),
      percent: total ? (100 * done) / total : (submissionActive(batch) ? 0 : 100) };
  }
  if (Number.isFinite(batch.runs_total)) {
    // List rows count runs (one per file).
    const done = num(batch.runs_completed) + num(batch.runs_failed);
    const total = num(batch.runs_total);
    return { done, total, succeeded: num(batch.runs_completed), failed: num(batch.runs_failed),
      percent: total ? (100 * done) / total : (submissionActive(batch) ? 0 : 100) };
  }
  let done = 0;
  let total = 0;
  let succeeded = 0;
  let failed = 0;
  if (files.length) {
    total = files.length;
    for (const f of files) {
      const s = String(f.status || "").toUpperCase();
      if (s === "COMPLETED") { done += 1; succeeded += 1; } else if (s === "FAILED") { done += 1; failed += 1; }
    }
  } else if (chunks.length) {
    for (const c of chunks) {
      total += num(c.records_total);
      done += num(c.records_processed);
      succeeded += num(c.records_succeeded);
      failed += num(c.records_failed);
    }
  } else {
    total = num(batch.records_total || batch.files_total);
    done = num(batch.records_processed ?? batch.files_done);
    succeeded = num(batch.records_succeeded ?? batch.files_completed);
    failed = num(batch.records_failed ?? batch.files_failed);
  }
  let percent = total ? (100 * done) / total : 0;
  if (!submissionActive(batch) && ["COMPLETED", "PARTIAL"].includes(batch.status)) percent = 100;
  return { done, total, succeeded, failed, percent };
}

export function costOf(batch) {
  const cost = batch.cost || {};
  return { estimated: cost.estimated_usd ?? batch.estimated_cost_usd, actual: cost.actual_usd ?? batch.actual_cost_usd };
}

const clock = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });

// An expected finish with its range and what it is based on: "in about 3 h 5 min (by 12/4, 3:05 PM; between …)".
export function etaText(eta) {
  if (!eta || !eta.expected) return null;
  const inSpan = Math.max(0, -since(eta.expected));
  return h("span", { class: "eta", title: `Based on ${eta.basis}` },
    inSpan > 0 ? `in about ${fmtSpan(inSpan)}` : "any moment now",
    h("span", { class: "small text-muted d-block" }, `${clock(eta.earliest)} – ${clock(eta.latest)}`));
}
