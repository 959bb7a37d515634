// The transcript beside the player: each line seeks the video when clicked, the line being said follows
// playback, and the transcript downloads as .srt, .vtt or .txt. Every piece of transcript text is inserted
// as text (dom.js builds nodes with textContent), never as HTML.
import { api } from "./api.js";
import { h, clear, $, fmtDuration, fmtCost, errorText, notice, Poller, statusBadge } from "./dom.js";

let fileId = null;
let lines = [];
let active = -1;
const poller = new Poller(load, 5000);

export function initTranscript(id) {
  fileId = id;
  const media = $("#media");
  // timeupdate and seeked do not bubble, but every event passes the capture phase of the player's ancestors,
  // so this also follows a player file.js makes later (after a proxy is generated).
  media.addEventListener("timeupdate", follow, true);
  media.addEventListener("seeked", follow, true);
  load();
}

function player() {
  return $("#media video");
}

async function load() {
  const box = $("#transcript");
  let data;
  try {
    data = await api.get(`/api/files/${fileId}/transcript`);
  } catch (err) {
    box.classList.remove("d-none");
    clear(box, h("div", { class: "card-body" }, notice(`Could not load the transcript: ${errorText(err)}`, "danger")));
    return false;
  }
  if (data.media_type !== "video") {
    box.classList.add("d-none");
    return false;
  }
  box.classList.remove("d-none");
  render(box, data);
  return Boolean(data.job && data.job.active);
}

function jobLine(job) {
  if (!job) return null;
  if (job.active) {
    return h("div", { class: "alert alert-info py-2 small", id: "transcript-job" }, statusBadge(job.status), " ",
      "Transcription in progress… this panel updates by itself.");
  }
  if (job.status === "FAILED") {
    return h("div", { class: "alert alert-warning py-2 small", id: "transcript-job" },
      `The last transcription failed: ${job.failure_reason || "no reason given"}`);
  }
  return null;
}

function render(box, data) {
  const t = data.transcript;
  const job = data.job;
  if (job && job.active) poller.start(5000);
  const heading = h("div", { class: "d-flex flex-wrap align-items-center gap-2 mb-2" },
    h("h2", { class: "h6 mb-0 me-auto", id: "transcript-title" }, "Transcript"),
    t && t.text ? downloads() : null);
  if (!t) {
    clear(box, h("div", { class: "card-body" }, heading, jobLine(job),
      h("p", { class: "small text-muted mb-0" }, data.has_audio
        ? "No transcript yet. Subtitles beside the video (.srt, .vtt) or inside it are picked up at import; "
          + "Analyze… → Transcribe gets one for the speech."
        : "This video has no audio track.")));
    lines = [];
    return;
  }
  const facts = [t.source_label, t.language && `language ${t.language}`,
    t.speaker_count ? `${t.speaker_count} speaker${t.speaker_count === 1 ? "" : "s"}` : null,
    t.cost_usd ? `cost ${fmtCost(t.cost_usd)}` : null].filter(Boolean).join(" · ");
  const list = h("ol", { class: "list-unstyled mb-0 transcript-lines", id: "transcript-lines",
    style: { maxHeight: "24rem", overflowY: "auto", position: "relative" } }, t.segments.map(line));
  clear(box, h("div", { class: "card-body" }, heading, jobLine(job),
    h("div", { class: "small text-muted mb-2", id: "transcript-source" }, facts),
    t.note ? h("div", { class: "alert alert-secondary py-2 small", id: "transcript-note" }, t.note) : null,
    t.segments.length ? list : h("p", { class: "small text-muted mb-0" }, "No lines.")));
  lines = Array.from(list.children);
  active = -1;
  follow();
}

function downloads() {
  return h("div", { class: "btn-group btn-group-sm", role: "group", "aria-label": "Download the transcript" },
    ["srt", "vtt", "txt"].map((format) => h("a", { class: "btn btn-outline-secondary", download: "",
      href: `/api/files/${fileId}/transcript?format=${format}` }, `.${format}`)));
}

function line(segment, index) {
  const who = segment.speaker ? h("span", { class: "fw-semibold me-1" }, `${segment.speaker}:`) : null;
  const words = segment.text ? segment.text : h("span", { class: "fst-italic text-muted" }, "(sound, no words)");
  return h("li", { class: "rounded px-1", dataset: { index, start: segment.start_seconds, end: segment.end_seconds } },
    h("button", { type: "button", class: "btn btn-link btn-sm p-0 text-start text-body text-decoration-none transcript-line",
      "aria-label": `Play from ${fmtDuration(segment.start_seconds)}`, onclick: () => seek(segment.start_seconds) },
    h("span", { class: "text-muted small me-2 font-monospace" }, fmtDuration(segment.start_seconds)), who, words));
}

function seek(seconds) {
  const video = player();
  if (!video) return;
  video.currentTime = seconds;
  video.play().catch(() => {});
  follow();
}

// The line whose time span holds the player's time (the last that started before it, in a pause).
function follow() {
  const video = player();
  if (!video || !lines.length) return;
  const now = video.currentTime;
  let found = -1;
  for (let i = 0; i < lines.length; i += 1) {
    if (Number(lines[i].dataset.start) <= now) found = i; else break;
  }
  if (found === active) return;
  if (active >= 0 && lines[active]) {
    lines[active].classList.remove("bg-primary-subtle");
    lines[active].removeAttribute("aria-current");
  }
  active = found;
  if (found < 0) return;
  const current = lines[found];
  current.classList.add("bg-primary-subtle");
  current.setAttribute("aria-current", "true");
  const list = current.parentElement;
  if (current.offsetTop < list.scrollTop || current.offsetTop + current.offsetHeight > list.scrollTop + list.clientHeight) {
    list.scrollTop = Math.max(0, current.offsetTop - list.clientHeight / 3);
  }
}
