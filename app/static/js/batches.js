// The Batches list: every submission with progress, refreshed while any is still active.
import { api, withQuery } from "./api.js";
import { h, clear, $, fmtDate, fmtCost, fmtNumber, progressBar, statusBadge, notice, errorText, since, fmtSpan, Poller } from "./dom.js";
import { recordProgress, submissionActive, costOf, etaText } from "./batch_common.js";

const page = Math.max(1, parseInt(new URLSearchParams(location.search).get("page") || "1", 10) || 1);
const PER_PAGE = 50;
const poller = new Poller(load, 4000);

function items(data) {
  if (Array.isArray(data)) return data;
  return data.items || data.batches || [];
}

async function load() {
  const box = $("#batches");
  let data;
  try {
    data = await api.get(withQuery("/api/batch", { limit: PER_PAGE, offset: (page - 1) * PER_PAGE }));
  } catch (err) {
    if (err.missingEndpoint) {
      clear(box, notice("Batch submissions are not available in this version yet. On-demand analysis from the Library works; "
        + "its progress shows on the Library page.", "secondary"));
      $("#live-note").textContent = "";
      return false;
    }
    clear(box, notice(`Could not load the submissions: ${errorText(err)}`, "danger"));
    return true;
  }
  const list = items(data);
  if (!list.length) {
    clear(box, h("div", { class: "empty-state border rounded" },
      h("p", { class: "fs-5" }, "No submissions yet."),
      h("p", {}, "Select files in the ", h("a", { href: "/files" }, "Library"), " and press Analyze… to start one.")));
    $("#live-note").textContent = "";
    return false;
  }
  clear(box, h("div", { class: "table-responsive" }, h("table", { class: "table table-sm align-middle", id: "batch-table" },
    h("thead", {}, h("tr", {}, ["#", "Submitted", "Model", "Mode", "Status", "Progress", "Files", "Cost (est. / actual)"]
      .map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map(row)))));
  pager(data);
  const active = list.some(submissionActive);
  $("#live-note").textContent = active ? "Updating live every few seconds" : "All submissions finished";
  return active;
}

function row(batch) {
  const progress = recordProgress(batch);
  const cost = costOf(batch);
  const running = submissionActive(batch);
  const chunks = batch.chunks || [];
  const chunkNote = batch.chunks_total ?? chunks.length;
  return h("tr", { dataset: { batchId: batch.id } },
    h("td", {}, h("a", { href: `/batches/${batch.id}` }, `#${batch.id}`)),
    h("td", { class: "small text-nowrap" }, fmtDate(batch.created_at),
      running && batch.created_at ? h("div", { class: "text-muted" }, `${fmtSpan(since(batch.created_at))} ago`) : null),
    h("td", {}, batch.model || "–"),
    h("td", {}, String(batch.mode || "–").replace("_", " ")),
    h("td", {}, statusBadge(batch.status), running && batch.eta ? h("div", { class: "small" }, etaText(batch.eta)) : null),
    h("td", { style: { minWidth: "10rem" } }, progressBar(progress.percent, { label: `Submission ${batch.id} progress`, striped: running }),
      h("div", { class: "small text-muted" }, `${fmtNumber(progress.done)} of ${fmtNumber(progress.total)} files`,
        progress.failed ? h("span", { class: "text-danger" }, ` · ${fmtNumber(progress.failed)} failed`) : null,
        chunkNote ? ` · ${chunkNote} chunk${chunkNote === 1 ? "" : "s"}` : "")),
    h("td", {}, fmtNumber(batch.files_total)),
    h("td", { class: "text-nowrap" }, `${fmtCost(cost.estimated)} / ${fmtCost(cost.actual)}`));
}

function pager(data) {
  const pages = data.total ? Math.ceil(data.total / PER_PAGE) : 1;
  const list = [];
  if (pages > 1) {
    for (let p = 1; p <= pages; p += 1) {
      list.push(h("li", { class: `page-item${p === page ? " active" : ""}` },
        h("a", { class: "page-link", href: withQuery("/batches", { page: p }), "aria-current": p === page ? "page" : undefined }, String(p))));
    }
  }
  clear($("#batch-pager"), list);
}

$("#refresh").addEventListener("click", () => { poller.stop(); poller.start(); });
poller.start();
