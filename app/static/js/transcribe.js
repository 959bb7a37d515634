// The "Speech transcript" part of the Analyze dialog: what transcribing the chosen files would do and cost
// (audio minutes at Amazon Transcribe's price per minute), then an inline confirmation before anything starts.
import { api } from "./api.js";
import { h, clear, $, fmtCost, fmtNumber, notice, toast, errorText } from "./dom.js";

let target = null;
let estimate = null;
let seq = 0;

export function openTranscribePanel(selection) {
  target = selection;
  estimate = null;
  const box = $("#transcribe-panel");
  if (!box) return;
  clear(box,
    h("h3", { class: "h6", id: "transcribe-title" }, "Speech transcript"),
    h("p", { class: "small text-muted mb-2" },
      "Nova does not hear the audio. A transcript makes what is said searchable and lets the analysis use it. "
      + "Subtitles the videos already have are used first, for free."),
    h("div", { class: "form-check mb-2" },
      h("input", { class: "form-check-input", type: "checkbox", id: "transcribe-force", onchange: refresh }),
      h("label", { class: "form-check-label small", for: "transcribe-force" },
        "Transcribe even files that have subtitles or a transcript")),
    h("div", { id: "transcribe-estimate", class: "small mb-2" }, "Calculating…"),
    h("div", { id: "transcribe-actions", class: "d-flex flex-wrap gap-2 align-items-center" }));
  refresh();
}

function body() {
  return { ...target, force: $("#transcribe-force").checked };
}

async function refresh() {
  const mine = ++seq;
  const box = $("#transcribe-estimate");
  clear($("#transcribe-actions"));
  try {
    const result = await api.post("/api/transcripts/estimate", body());
    if (mine !== seq) return;
    estimate = result;
  } catch (err) {
    if (mine !== seq) return;
    clear(box, notice(errorText(err), "warning"));
    return;
  }
  const e = estimate;
  const service = { aws: "Amazon Transcribe", local: "the offline stand-in (marks speech, no words)", none: "no service" }[e.backend];
  clear(box,
    h("div", { id: "transcribe-summary" }, `${fmtNumber(e.to_transcribe)} file(s) to transcribe, `
      + `${e.minutes.toFixed(1)} min of audio: `, h("strong", { id: "transcribe-cost" }, fmtCost(e.cost_usd)),
    ` with ${service}`, e.backend === "aws" ? ` ($${e.price_per_minute}/min, at least ${e.min_billed_seconds} s a file).`
      : `; Amazon Transcribe would cost ${fmtCost(e.aws_cost_usd)}.`),
    e.reasons.length ? h("ul", { class: "mb-0", id: "transcribe-reasons" }, e.reasons.map((r) => h("li", {}, r))) : null);
  const runnable = e.to_transcribe + (e.skipped.subtitles || 0);
  clear($("#transcribe-actions"), h("button", { type: "button", class: "btn btn-sm btn-outline-primary",
    id: "transcribe-start", disabled: !runnable, onclick: confirmStep }, "Transcribe…"));
}

function confirmStep() {
  const e = estimate;
  clear($("#transcribe-actions"),
    h("span", { class: "small me-2", id: "transcribe-confirm-text" },
      `Transcribe ${fmtNumber(e.to_transcribe)} file(s) for about ${fmtCost(e.cost_usd)}`
      + `${e.skipped.subtitles ? ` (and use the subtitles of ${fmtNumber(e.skipped.subtitles)})` : ""}?`),
    h("button", { type: "button", class: "btn btn-sm btn-primary", id: "transcribe-confirm", onclick: start }, "Start transcription"),
    h("button", { type: "button", class: "btn btn-sm btn-outline-secondary", onclick: refresh }, "Cancel"));
}

async function start() {
  $("#transcribe-confirm").disabled = true;
  try {
    const result = await api.post("/api/transcripts", body());
    clear($("#transcribe-actions"), h("span", { class: "small text-success", id: "transcribe-started" },
      `Transcription started: ${fmtNumber(result.to_transcribe)} job(s); the file page shows each transcript when it is ready.`));
    toast("Transcription started.", "success");
  } catch (err) {
    toast(errorText(err), "error");
    refresh();
  }
}
