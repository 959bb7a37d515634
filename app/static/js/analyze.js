// The Analyze dialog: model, types, depth, language, mode, a live estimate, then submit.
import { api } from "./api.js";
import { h, clear, $, $$, fmtCost, fmtNumber, notice, toast, errorText } from "./dom.js";
import { openTranscribePanel } from "./transcribe.js";

let models = null;
let defaultModel = null;
let current = null; // {target: {file_ids}|{filter}, count, onSubmitted}
let estimateTimer = null;
let estimateSeq = 0;

async function loadModels() {
  if (models) return;
  const data = await api.get("/api/nova/models");
  models = data.models || [];
  defaultModel = data.default;
  const select = $("#analyze-model");
  clear(select, models.map((m) => {
    const tags = [];
    if (m.key === defaultModel) tags.push("default");
    if (m.lifecycle === "legacy") tags.push("legacy");
    if (!m.available) tags.push("not configured");
    const label = `${m.name}${tags.length ? ` (${tags.join(", ")})` : ""}`;
    return h("option", { value: m.key, selected: m.key === defaultModel }, label);
  }));
  select.addEventListener("change", () => { describeModel(); scheduleEstimate(); });
  describeModel();
}

function selectedModel() {
  return models.find((m) => m.key === $("#analyze-model").value);
}

function describeModel() {
  const model = selectedModel();
  const note = $("#analyze-model-note");
  if (!model) return clear(note);
  const parts = [`$${model.price_input_per_1k}/1K input, $${model.price_output_per_1k}/1K output tokens on demand`];
  if (model.lifecycle === "legacy") parts.push("legacy model: AWS will retire it");
  if (!model.batch) parts.push("no batch inference");
  clear(note, parts.join(" · "), !model.available && model.reason
    ? h("div", { class: "text-danger" }, `Not available: ${model.reason}`) : null);
}

function formValues() {
  const combined = $("#type-combined").checked;
  const types = combined ? ["combined"] : $$(".analyze-type").filter((c) => c.checked).map((c) => c.value);
  return {
    ...current.target,
    model: $("#analyze-model").value,
    analysis_types: types,
    options: { summary_depth: $("#analyze-depth").value, language: $("#analyze-language").value.trim() || "auto" },
    mode: ($("input[name=analyze-mode]:checked") || {}).value || "auto",
  };
}

function scheduleEstimate() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(runEstimate, 250);
}

async function runEstimate() {
  const body = formValues();
  const box = $("#analyze-estimate");
  const submit = $("#analyze-submit");
  submit.disabled = true;
  if (!body.analysis_types.length) {
    clear(box, notice("Choose at least one analysis type, or Combined.", "warning"));
    return;
  }
  const seq = ++estimateSeq;
  box.setAttribute("aria-busy", "true");
  try {
    const estimate = await api.post("/api/nova/estimate", body);
    if (seq !== estimateSeq) return;
    renderEstimate(box, estimate, body);
    const model = selectedModel();
    const runnable = estimate.plan.batch_files + estimate.plan.on_demand_files;
    submit.disabled = !runnable || (model && !model.available);
    $("#analyze-submit-note").textContent = model && !model.available ? "This model is not configured here." : "";
  } catch (err) {
    if (seq !== estimateSeq) return;
    clear(box, notice(errorText(err), err.status === 422 ? "warning" : "danger"));
  } finally {
    box.removeAttribute("aria-busy");
  }
}

function priceCard(title, part, subtitle, highlight) {
  return h("div", { class: "col" },
    h("div", { class: `card h-100 ${highlight ? "border-primary" : ""}` },
      h("div", { class: "card-body py-2" },
        h("div", { class: "small text-muted" }, title),
        h("div", { class: "fs-4 fw-semibold estimate-cost" }, fmtCost(part.cost_usd)),
        h("div", { class: "small" }, subtitle),
        h("div", { class: "small text-muted" },
          `${fmtNumber(part.input_tokens)} input + ${fmtNumber(part.output_tokens)} output tokens`))));
}

function renderEstimate(box, estimate, body) {
  const plan = estimate.plan;
  const planned = estimate.planned;
  const runnable = plan.batch_files + plan.on_demand_files;
  const reasons = plan.reasons || [];
  clear(box,
    h("div", { class: "row row-cols-1 row-cols-sm-3 g-2 mb-2", id: "estimate-cards" },
      priceCard("Everything as batch", estimate.batch, "50% of the on-demand price", false),
      priceCard("Everything on demand", estimate.on_demand, "full price, no minimum", false),
      priceCard(`This plan (${body.mode.replace("_", " ")})`, { cost_usd: planned.total_cost_usd,
        input_tokens: planned.batch.input_tokens + planned.on_demand.input_tokens,
        output_tokens: planned.batch.output_tokens + planned.on_demand.output_tokens },
      `${planned.batch.files} file(s) as batch · ${planned.on_demand.files} on demand`, true)),
    h("p", { class: "small mb-1", id: "estimate-routing" },
      `${plan.batch_files} file(s) as batch (${planned.batch.records} records, ${fmtCost(planned.batch.cost_usd)}), `,
      `${plan.on_demand_files} on demand (${planned.on_demand.records} records, ${fmtCost(planned.on_demand.cost_usd)})`,
      plan.rejected_files ? `, ${plan.rejected_files} cannot be analysed` : "",
      plan.segmented_files ? `; ${plan.segmented_files} long video(s) in ${plan.segments} segments, each merged into one result` : "",
      plan.transcript_files ? `; ${plan.transcript_files} video(s) with a transcript in their prompts (${fmtNumber(plan.transcript_tokens)} input tokens counted)` : "",
      "."),
    reasons.length ? h("details", { class: "small", open: reasons.length <= 3 },
      h("summary", {}, "Why"), h("ul", { class: "mb-0" }, reasons.slice(0, 50).map((r) => h("li", {}, r)))) : null,
    runnable ? null : notice("Nothing to analyse with these settings.", "warning"));
}

async function submit(event) {
  event.preventDefault();
  const body = formValues();
  const button = $("#analyze-submit");
  button.disabled = true;
  $("#analyze-submit-note").textContent = "Submitting…";
  try {
    const outcome = await submitAnalysis(body);
    window.bootstrap.Modal.getOrCreateInstance($("#analyze-dialog")).hide();
    if (current.onSubmitted) current.onSubmitted(outcome);
  } catch (err) {
    toast(errorText(err), "error");
    $("#analyze-submit-note").textContent = errorText(err);
    button.disabled = false;
  }
}

// POST /api/batch/nova (every mode, so the submission shows on the Batches page); while that
// endpoint does not exist, on-demand analysis through /api/nova/analyze.
export async function submitAnalysis(body) {
  try {
    const batch = await api.post("/api/batch/nova", body);
    return { kind: "batch", batch };
  } catch (err) {
    if (!err.missingEndpoint) throw err;
    if (body.mode === "batch") {
      throw new Error("Batch submissions are not available in this version yet; choose Auto or On demand.");
    }
    const { mode, ...rest } = body;
    const task = await api.post("/api/nova/analyze", rest);
    return { kind: "task", task };
  }
}

export async function openAnalyzeDialog({ target, count, onSubmitted }) {
  current = { target, count, onSubmitted };
  const dialog = $("#analyze-dialog");
  $("#analyze-count").textContent = `${fmtNumber(count)} file${count === 1 ? "" : "s"}`;
  $("#analyze-submit-note").textContent = "";
  const modal = window.bootstrap.Modal.getOrCreateInstance(dialog);
  modal.show();
  openTranscribePanel(target);
  try {
    await loadModels();
  } catch (err) {
    clear($("#analyze-estimate"), notice(`Could not load the model catalog: ${errorText(err)}`, "danger"));
    return;
  }
  scheduleEstimate();
}

export function initAnalyzeDialog() {
  const dialog = $("#analyze-dialog");
  if (!dialog || dialog.dataset.ready) return;
  dialog.dataset.ready = "1";
  $("#analyze-form").addEventListener("submit", submit);
  $("#type-combined").addEventListener("change", (e) => {
    if (e.target.checked) $$(".analyze-type").forEach((c) => { c.checked = false; });
    scheduleEstimate();
  });
  $$(".analyze-type").forEach((c) => c.addEventListener("change", () => {
    if (c.checked) $("#type-combined").checked = false;
    if (!$$(".analyze-type").some((x) => x.checked)) $("#type-combined").checked = true;
    scheduleEstimate();
  }));
  ["#analyze-depth", "#analyze-language"].forEach((s) => $(s).addEventListener("change", scheduleEstimate));
  $$("input[name=analyze-mode]").forEach((r) => r.addEventListener("change", scheduleEstimate));
}
