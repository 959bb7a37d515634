// A live card for one background task (import, proxies, analyze): progress, counts, ETA and Cancel.
import { api } from "./api.js";
import { h, clear, fmtSpan, progressBar, statusBadge, toast, errorText, Poller } from "./dom.js";

const TITLES = { import: "Import", proxies: "Generating proxies", analyze: "Analysing (on demand)" };
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

// Shows the task in `container` (a card is appended) and resolves with the finished task.
export function trackTask(container, taskId, { title, onDone, interval = 1000 } = {}) {
  const card = h("div", { class: "card mb-2 task-card", dataset: { taskId } });
  container.prepend(card);
  return new Promise((resolve) => {
    const poller = new Poller(async () => {
      let task;
      try {
        task = await api.get(`/api/tasks/${encodeURIComponent(taskId)}`);
      } catch (err) {
        clear(card, h("div", { class: "card-body text-danger" }, `Could not read task progress: ${errorText(err)}`));
        return true;
      }
      render(card, task, title);
      if (TERMINAL.has(task.status)) {
        if (onDone) onDone(task);
        resolve(task);
        return false;
      }
      return true;
    }, interval);
    poller.start();
  });
}

function counts(task) {
  const c = task.counters || {};
  if (task.kind === "import") {
    return [`${c.imported || 0} new`, `${c.updated || 0} updated`, `${c.moved || 0} moved`,
      `${c.skipped_existing || 0} already known`, `${c.skipped_unsupported || 0} not media`, `${c.failed || 0} failed`];
  }
  return Object.entries(c).map(([name, value]) => `${value} ${name.replaceAll("_", " ")}`);
}

function render(card, task, title) {
  const active = !TERMINAL.has(task.status);
  const total = task.total;
  const cancel = active ? h("button", {
    type: "button", class: "btn btn-sm btn-outline-danger", disabled: task.cancel_requested,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api.post(`/api/tasks/${encodeURIComponent(task.id)}/cancel`, {});
        toast("Cancelling… the current file finishes first.");
      } catch (err) {
        toast(errorText(err), "error");
        event.target.disabled = false;
      }
    },
  }, task.cancel_requested ? "Cancelling…" : "Cancel") : null;
  const failures = task.failed || [];
  const lines = [
    total === null || total === undefined
      ? (active ? "Scanning the folder…" : "")
      : `${task.done} of ${total} file${total === 1 ? "" : "s"}`,
    active && task.eta_seconds !== null && task.eta_seconds !== undefined ? `about ${fmtSpan(task.eta_seconds)} left` : null,
  ].filter(Boolean);
  clear(card, h("div", { class: "card-body py-2" },
    h("div", { class: "d-flex flex-wrap align-items-center gap-2 mb-1" },
      h("strong", {}, title || TITLES[task.kind] || task.kind), statusBadge(task.status),
      h("span", { class: "small text-muted task-progress-text" }, lines.join(" · ")),
      h("span", { class: "ms-auto" }, cancel || h("button", { type: "button", class: "btn-close", "aria-label": "Dismiss",
        onclick: () => card.remove() }))),
    progressBar(task.progress_percent, { label: `${title || task.kind} progress`, striped: active,
      colour: task.status === "FAILED" ? "bg-danger" : task.status === "CANCELLED" ? "bg-secondary" : "" }),
    h("div", { class: "small text-muted mt-1" }, counts(task).join(" · ")),
    active && task.current_item ? h("div", { class: "small text-truncate text-muted" }, "Now: ", task.current_item) : null,
    task.error ? h("div", { class: "small text-danger" }, task.error) : null,
    failures.length ? h("details", { class: "small mt-1" },
      h("summary", {}, `${task.failed_count || failures.length} problem(s)`),
      h("ul", { class: "mb-0" }, failures.slice(0, 100).map((f) => h("li", {},
        h("span", { class: "text-break-all" }, f.item), ": ", f.reason)))) : null));
}

// Active tasks (queued or running) from the tasks API, newest first.
export async function activeTasks() {
  try {
    const data = await api.get("/api/tasks");
    return (data.items || []).filter((task) => !TERMINAL.has(task.status));
  } catch {
    return [];
  }
}
