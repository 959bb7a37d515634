// A live card for one background job (import, proxies, analyze): progress, counts, ETA and Cancel.
import { api } from "./api.js";
import { h, clear, fmtSpan, progressBar, statusBadge, toast, errorText, Poller } from "./dom.js";

const TITLES = { import: "Import", proxies: "Generating proxies", analyze: "Analysing (on demand)" };
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

// Shows the job in `container` (a card is appended) and resolves with the finished job.
export function trackJob(container, jobId, { title, onDone, interval = 1000 } = {}) {
  const card = h("div", { class: "card mb-2 job-card", dataset: { jobId } });
  container.prepend(card);
  return new Promise((resolve) => {
    const poller = new Poller(async () => {
      let job;
      try {
        job = await api.get(`/api/jobs/${encodeURIComponent(jobId)}`);
      } catch (err) {
        clear(card, h("div", { class: "card-body text-danger" }, `Could not read job progress: ${errorText(err)}`));
        return true;
      }
      render(card, job, title);
      if (TERMINAL.has(job.status)) {
        if (onDone) onDone(job);
        resolve(job);
        return false;
      }
      return true;
    }, interval);
    poller.start();
  });
}

function counts(job) {
  const c = job.counters || {};
  if (job.kind === "import") {
    return [`${c.imported || 0} new`, `${c.updated || 0} updated`, `${c.moved || 0} moved`,
      `${c.skipped_existing || 0} already known`, `${c.skipped_unsupported || 0} not media`, `${c.failed || 0} failed`];
  }
  return Object.entries(c).map(([name, value]) => `${value} ${name.replaceAll("_", " ")}`);
}

function render(card, job, title) {
  const active = !TERMINAL.has(job.status);
  const total = job.total;
  const cancel = active ? h("button", {
    type: "button", class: "btn btn-sm btn-outline-danger", disabled: job.cancel_requested,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api.post(`/api/jobs/${encodeURIComponent(job.id)}/cancel`, {});
        toast("Cancelling… the current file finishes first.");
      } catch (err) {
        toast(errorText(err), "error");
        event.target.disabled = false;
      }
    },
  }, job.cancel_requested ? "Cancelling…" : "Cancel") : null;
  const failures = job.failed || [];
  const lines = [
    total === null || total === undefined
      ? (active ? "Scanning the folder…" : "")
      : `${job.done} of ${total} file${total === 1 ? "" : "s"}`,
    active && job.eta_seconds !== null && job.eta_seconds !== undefined ? `about ${fmtSpan(job.eta_seconds)} left` : null,
  ].filter(Boolean);
  clear(card, h("div", { class: "card-body py-2" },
    h("div", { class: "d-flex flex-wrap align-items-center gap-2 mb-1" },
      h("strong", {}, title || TITLES[job.kind] || job.kind), statusBadge(job.status),
      h("span", { class: "small text-muted job-progress-text" }, lines.join(" · ")),
      h("span", { class: "ms-auto" }, cancel || h("button", { type: "button", class: "btn-close", "aria-label": "Dismiss",
        onclick: () => card.remove() }))),
    progressBar(job.progress_percent, { label: `${title || job.kind} progress`, striped: active,
      colour: job.status === "FAILED" ? "bg-danger" : job.status === "CANCELLED" ? "bg-secondary" : "" }),
    h("div", { class: "small text-muted mt-1" }, counts(job).join(" · ")),
    active && job.current_item ? h("div", { class: "small text-truncate text-muted" }, "Now: ", job.current_item) : null,
    job.error ? h("div", { class: "small text-danger" }, job.error) : null,
    failures.length ? h("details", { class: "small mt-1" },
      h("summary", {}, `${job.failed_count || failures.length} problem(s)`),
      h("ul", { class: "mb-0" }, failures.slice(0, 100).map((f) => h("li", {},
        h("span", { class: "text-break-all" }, f.item), ": ", f.reason)))) : null));
}

// Active jobs (queued or running) from the jobs API, newest first.
export async function activeJobs() {
  try {
    const data = await api.get("/api/jobs");
    return (data.items || []).filter((job) => !TERMINAL.has(job.status));
  } catch {
    return [];
  }
}
