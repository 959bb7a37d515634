// The File page: metadata, player or image, and the results viewer with a run switcher and exports.
import { api } from "./api.js";
import { h, clear, $, fmtBytes, fmtDuration, fmtDate, fmtCost, fmtNumber, statusBadge, toast, errorText,
  confirmDialog, downloadBlob, notice, Poller } from "./dom.js";
import { trackTask } from "./tasks.js";
import { initAnalyzeDialog, openAnalyzeDialog } from "./analyze.js";
import { initTranscript } from "./transcript.js";
import { initSimilar } from "./similar.js";

const fileId = Number($("#file-page").dataset.fileId);
const params = new URLSearchParams(location.search);
const startAt = Number.parseFloat(params.get("t") || "");
let file = null;
let runs = [];
let run = null;
let player = null;
let chapters = [];
const runPoller = new Poller(refreshRuns, 3000);
const PALETTE = ["#0d6efd", "#6f42c1", "#198754", "#d63384", "#fd7e14", "#20c997", "#6610f2", "#0dcaf0"];

// ---- file and media -----------------------------------------------------------------------

async function loadFile() {
  try {
    file = await api.get(`/api/files/${fileId}`);
  } catch (err) {
    clear($("#file-name"), err.status === 404 ? "File not found" : "Could not load this file");
    clear($("#results"), notice(err.status === 404 ? "This file is not in the library (it may have been removed)."
      : errorText(err), "warning"));
    return false;
  }
  document.title = `${file.name} · Media Library`;
  $("#file-name").textContent = file.name;
  $("#crumb-name").textContent = file.name;
  $("#file-folder").textContent = file.folder;
  renderMetadata();
  renderMedia();
  $("#file-analyze").disabled = file.status !== "ready";
  $("#file-proxy").disabled = file.status !== "ready";
  $("#file-proxy").textContent = file.has_proxy ? "Regenerate proxy" : "Generate proxy";
  $("#file-delete").disabled = false;
  return true;
}

function row(label, ...value) {
  return h("tr", {}, h("th", { scope: "row" }, label), h("td", { class: "text-break-all" }, ...value));
}

function renderMetadata() {
  const f = file;
  const rows = [row("Type", `${f.media_type}${f.mime_type ? ` (${f.mime_type})` : ""}`), row("Path", f.path),
    row("Size", fmtBytes(f.size_bytes))];
  if (f.media_type === "video") rows.push(row("Duration", fmtDuration(f.duration_seconds)));
  if (f.width && f.height) rows.push(row("Resolution", `${f.width}×${f.height}${f.fps ? ` at ${f.fps} fps` : ""}`));
  if (f.video_codec || f.audio_codec) {
    rows.push(row("Codecs", [f.video_codec, f.audio_codec ? `${f.audio_codec}${f.audio_channels ? ` ${f.audio_channels} ch` : ""}` : "no audio"]
      .filter(Boolean).join(" · ")));
  }
  if (f.container) rows.push(row("Container", f.container));
  if (f.bitrate) rows.push(row("Bitrate", `${fmtNumber(Math.round(f.bitrate / 1000))} kbit/s`));
  const source = { exif: "EXIF", container: "container", mtime: "file date" }[f.created_source] || f.created_source;
  if (f.created_source === "exif") rows.push(row("EXIF date", fmtDate(f.created_at)));
  else if (f.created_at) rows.push(row("Created", fmtDate(f.created_at), source ? h("span", { class: "text-muted" }, ` (${source})`) : null));
  if (f.gps_latitude !== null && f.gps_longitude !== null && f.gps_latitude !== undefined) {
    const lat = Number(f.gps_latitude).toFixed(6);
    const lon = Number(f.gps_longitude).toFixed(6);
    rows.push(row("GPS", `${lat}, ${lon} `, h("a", { href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=15/${lat}/${lon}`,
      target: "_blank", rel: "noopener noreferrer" }, "map")));
  }
  if (f.camera) rows.push(row("Camera", f.camera));
  if (f.orientation && f.orientation !== 1) rows.push(row("Orientation", String(f.orientation)));
  rows.push(row("Imported", fmtDate(f.imported_at)));
  rows.push(row("Proxy", f.proxy ? `${fmtBytes(f.proxy.size_bytes)} · ${f.proxy.width}×${f.proxy.height} · ${f.proxy.spec}` : "none yet"));
  rows.push(row("Analysis", statusBadge(f.analysis.status)));
  if (f.status !== "ready") rows.push(row("Problem", h("span", { class: "text-danger" }, f.error || "unreadable")));
  clear($("#metadata"), rows);
}

function renderMedia() {
  const box = $("#media");
  if (file.media_type === "video") {
    if (!file.proxy_url) {
      clear(box, h("div", { class: "empty-state border rounded" },
        h("p", {}, "No proxy yet: the player streams a small proxy copy of the video."),
        h("button", { type: "button", class: "btn btn-primary", onclick: generateProxy }, "Generate proxy")));
      player = null;
      return;
    }
    player = h("video", { class: "player", controls: true, preload: "metadata", playsinline: true,
      src: file.proxy_url, poster: file.thumbnail_url || undefined, "aria-label": `Video: ${file.name}` });
    player.addEventListener("timeupdate", onTimeUpdate);
    if (Number.isFinite(startAt) && startAt >= 0) {
      player.currentTime = startAt;
      player.addEventListener("loadedmetadata", () => { player.currentTime = startAt; onTimeUpdate(); }, { once: true });
    }
    clear(box, player);
  } else {
    const src = file.proxy_url || file.thumbnail_url;
    clear(box, src ? h("img", { class: "image-view", src, alt: file.name })
      : h("div", { class: "empty-state border rounded" }, "No preview yet."));
    player = null;
  }
}

function seek(seconds) {
  if (!player) return;
  player.currentTime = seconds;
  player.play().catch(() => {});
  player.focus({ preventScroll: true });
  onTimeUpdate();
}

function onTimeUpdate() {
  if (!player) return;
  const now = player.currentTime;
  $("#player-time").textContent = fmtDuration(now);
  const duration = timelineDuration();
  const cursor = $("#timeline .timeline-cursor");
  if (cursor && duration) cursor.style.left = `${Math.min(100, (now / duration) * 100)}%`;
  chapters.forEach((chapter, index) => {
    const active = now >= chapter.start_seconds && now < chapter.end_seconds;
    document.querySelectorAll(`[data-chapter="${index}"]`).forEach((el) => el.classList.toggle(
      el.classList.contains("timeline-seg") ? "active" : "active-chapter", active));
  });
}

function timelineDuration() {
  const last = chapters.length ? chapters[chapters.length - 1].end_seconds : 0;
  return Math.max(file.duration_seconds || 0, last || 0);
}

// ---- runs ---------------------------------------------------------------------------------

async function loadRuns() {
  try {
    runs = (await api.get(`/api/files/${fileId}/analyses`)).items || [];
  } catch (err) {
    clear($("#results"), notice(`Could not load the analysis results: ${errorText(err)}`, "danger"));
    return;
  }
  const switcher = $("#run-switcher");
  clear(switcher, runs.map((r, i) => h("option", { value: r.id },
    `${i === 0 ? "Latest: " : ""}#${r.id} · ${fmtDate(r.completed_at || r.created_at)} · ${r.model} · ${r.status.toLowerCase()}`)));
  switcher.disabled = runs.length < 2;
  const wanted = Number(params.get("run"));
  const chosen = runs.find((r) => r.id === (run ? run.id : wanted)) || runs[0] || null;
  if (chosen) switcher.value = String(chosen.id);
  showRun(chosen);
  if (runs.some((r) => ["PENDING", "RUNNING", "SUBMITTED"].includes(r.status))) runPoller.start(3000);
}

async function refreshRuns() {
  const before = JSON.stringify(runs.map((r) => [r.id, r.status]));
  await loadRuns();
  const after = JSON.stringify(runs.map((r) => [r.id, r.status]));
  if (before !== after) {
    const fresh = await api.get(`/api/files/${fileId}`).catch(() => null);
    if (fresh) { file = fresh; renderMetadata(); }
  }
  return runs.some((r) => ["PENDING", "RUNNING", "SUBMITTED"].includes(r.status));
}

function showRun(selected) {
  run = selected;
  $("#export-json").disabled = !run;
  chapters = run ? validChapters(run.results.chapters) : [];
  $("#export-csv").disabled = !chapters.length;
  renderTimeline();
  if (!run) {
    clear($("#results"), h("div", { class: "empty-state border rounded" },
      h("p", { class: "fs-6" }, "Not analysed yet."),
      h("p", {}, "Press Analyze… to get a summary, chapters, elements, a classification and search metadata."),
      file && file.status === "ready"
        ? h("button", { type: "button", class: "btn btn-primary", onclick: analyze }, "Analyze this file") : null));
    return;
  }
  const r = run.results || {};
  const parts = [runInfo(run)];
  if (r.summary) parts.push(summarySection(r.summary));
  if (r.description) parts.push(descriptionSection(r.description));
  if (chapters.length) parts.push(chaptersSection());
  if (r.elements) parts.push(elementsSection(r.elements));
  if (r.waterfall_classification) parts.push(classificationSection(r.waterfall_classification));
  if (r.search_metadata || r.metadata) parts.push(metadataSection(r.search_metadata || r.metadata));
  clear($("#results"), parts);
  onTimeUpdate();
}

function validChapters(value) {
  const list = value && Array.isArray(value.chapters) ? value.chapters : [];
  return list.filter((c) => c && Number.isFinite(c.start_seconds) && Number.isFinite(c.end_seconds))
    .sort((a, b) => a.start_seconds - b.start_seconds);
}

function section(title, ...content) {
  return h("section", { class: "card mb-3" }, h("div", { class: "card-body" }, h("h3", { class: "h6" }, title), ...content));
}

function runInfo(r) {
  const pending = ["PENDING", "RUNNING", "SUBMITTED"].includes(r.status);
  const errors = Object.entries(r.result_errors || {});
  return section("Run",
    h("div", { class: "d-flex flex-wrap gap-3 small", id: "run-info" },
      h("span", {}, statusBadge(r.status)),
      h("span", {}, "Model ", h("strong", {}, r.model), r.model_id && r.model_id !== r.model ? ` (${r.model_id})` : ""),
      h("span", {}, `Prompt ${r.prompt_version}`),
      h("span", {}, r.mode === "batch" ? "Batch" : "On demand",
        r.batch_id ? [" · ", h("a", { href: `/batches/${r.batch_id}` }, `submission #${r.batch_id}`)] : null),
      h("span", {}, `${fmtNumber(r.tokens_input)} in / ${fmtNumber(r.tokens_output)} out tokens`),
      h("span", {}, `Cost ${fmtCost(r.cost_usd)}`),
      h("span", {}, `Types: ${(r.analysis_types || []).join(", ")}`),
      h("span", {}, r.completed_at ? `Finished ${fmtDate(r.completed_at)}` : `Started ${fmtDate(r.created_at)}`),
      r.processing_seconds ? h("span", {}, `${r.processing_seconds.toFixed(1)} s`) : null),
    pending ? h("div", { class: "alert alert-info mt-2 mb-0 py-2" }, "Waiting for results… this page updates by itself.") : null,
    r.truncated ? h("div", { class: "alert alert-warning mt-2 mb-0 py-2", id: "truncated-warning" },
      "Truncated: the model's answer was cut off and repaired, so some results may be incomplete.") : null,
    r.error ? h("div", { class: "alert alert-danger mt-2 mb-0 py-2" }, `${r.error.code || "error"}: ${r.error.message || ""}`) : null,
    segmentList(r),
    errors.length ? h("ul", { class: "small text-danger mt-2 mb-0" }, errors.map(([type, e]) =>
      h("li", {}, `${type}: ${e.code || "failed"} – ${e.message || ""}`))) : null);
}

function segmentList(r) {
  const segments = Array.isArray(r.segments) ? r.segments : [];
  if (!segments.length) return null;
  return h("div", { class: "small mt-2", id: "run-segments" },
    `Analysed as ${segments.length} segments of ${fmtDuration(r.segment_seconds)} (${r.segment_overlap} s overlap): `,
    segments.map((s) => h("span", { class: "me-2 text-nowrap", "data-status": s.status },
      timeButton(s.start, s.end), statusBadge(s.status))));
}

function paragraphs(text) {
  return String(text || "").split(/\n{2,}/).filter((p) => p.trim()).map((p) => h("p", {}, p));
}

function bulletList(items) {
  const list = (items || []).filter((x) => typeof x === "string" && x.trim());
  return list.length ? h("ul", { class: "mb-0" }, list.map((x) => h("li", {}, x))) : null;
}

function summarySection(s) {
  return section("Summary", h("div", { id: "summary-text" }, paragraphs(s.text)), bulletList(s.key_points),
    h("div", { class: "small text-muted mt-1" }, [s.depth && `depth: ${s.depth}`, s.language && `language: ${s.language}`]
      .filter(Boolean).join(" · ")));
}

function descriptionSection(d) {
  return section("Description", paragraphs(d.text),
    h("div", { class: "small mb-1" }, [d.scene_type && `Scene: ${d.scene_type}`, d.primary_subject && `Subject: ${d.primary_subject}`]
      .filter(Boolean).join(" · ")), bulletList(d.key_points));
}

function timeButton(start, end) {
  const label = end !== undefined && end !== null ? `${fmtDuration(start)}–${fmtDuration(end)}` : fmtDuration(start);
  return h("button", { type: "button", class: "btn btn-link btn-sm p-0 me-2 time-link", disabled: !player,
    "aria-label": `Play from ${fmtDuration(start)}`, onclick: () => seek(start) }, label);
}

function renderTimeline() {
  const box = $("#timeline-box");
  const bar = $("#timeline");
  const duration = file && file.media_type === "video" ? timelineDuration() : 0;
  box.classList.toggle("d-none", !(chapters.length && duration));
  if (!chapters.length || !duration) return clear(bar);
  clear(bar, chapters.map((c, i) => h("button", {
    type: "button", class: "timeline-seg", dataset: { chapter: i, start: c.start_seconds },
    style: { left: `${(c.start_seconds / duration) * 100}%`, width: `${((c.end_seconds - c.start_seconds) / duration) * 100}%`,
      background: PALETTE[i % PALETTE.length] },
    title: `${fmtDuration(c.start_seconds)} ${c.title || ""}`,
    "aria-label": `Chapter ${i + 1}: ${c.title || ""}, from ${fmtDuration(c.start_seconds)}`,
    onclick: () => seek(c.start_seconds),
  }, c.title || `Chapter ${i + 1}`)), h("div", { class: "timeline-cursor", style: { left: "0%" } }));
}

// Chapter thumbnails: frames grabbed from the proxy in the browser (same origin, so the canvas is readable).
async function chapterThumbnails(images) {
  if (!file.proxy_url || !images.length) return;
  const video = h("video", { muted: true, preload: "auto", src: file.proxy_url });
  const canvas = h("canvas", { width: "192", height: "108" });
  const seek = (t) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("seek timed out")), 8000);
    video.addEventListener("seeked", () => { clearTimeout(timer); resolve(); }, { once: true });
    video.currentTime = t;
  });
  try {
    await new Promise((resolve, reject) => {
      video.addEventListener("loadeddata", resolve, { once: true });
      video.addEventListener("error", reject, { once: true });
    });
    for (const img of images) {
      if (!img.isConnected) return; // the user switched runs
      const start = Number(img.dataset.start);
      const end = Number(img.dataset.end);
      await seek(Math.min(start + 1, (start + end) / 2));
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      img.src = canvas.toDataURL("image/jpeg", 0.7);
      img.classList.remove("invisible");
    }
  } catch {
    /* thumbnails are a nicety: leave the placeholders */
  } finally {
    video.removeAttribute("src");
    video.load();
  }
}

const MAX_CHAPTER_THUMBS = 40;

function chaptersSection() {
  const images = [];
  const section_ = section(`Chapters (${chapters.length})`,
    h("ol", { class: "list-group list-group-numbered chapter-list", id: "chapter-list" }, chapters.map((c, i) => {
      let thumb = null;
      if (player && i < MAX_CHAPTER_THUMBS) {
        thumb = h("img", { class: "chapter-thumb invisible", alt: "", width: "96", height: "54",
          dataset: { start: c.start_seconds, end: c.end_seconds } });
        images.push(thumb);
      }
      return h("li", { class: "list-group-item d-flex gap-2 align-items-start", dataset: { chapter: i } },
        thumb ? h("button", { type: "button", class: "btn p-0 border-0", tabindex: "-1", "aria-hidden": "true",
          onclick: () => seek(c.start_seconds) }, thumb) : null,
        h("div", { class: "flex-grow-1" },
          h("div", {}, timeButton(c.start_seconds, c.end_seconds),
            h("button", { type: "button", class: "btn btn-link p-0 fw-semibold text-start text-decoration-none chapter-title",
              disabled: !player, onclick: () => seek(c.start_seconds) }, c.title || `Chapter ${i + 1}`)),
          c.summary ? h("div", { class: "small" }, c.summary) : null,
          bulletList(c.key_points)));
    })));
  setTimeout(() => chapterThumbnails(images), 0);
  return section_;
}

function ranges(list) {
  return (list || []).filter((r) => r && Number.isFinite(r.start_seconds)).map((r) => timeButton(r.start_seconds, r.end_seconds));
}

function confidence(value) {
  if (value === null || value === undefined) return "–";
  return `${Math.round(Number(value) * 100)}%`;
}

function table(headers, rows) {
  if (!rows.length) return null;
  return h("div", { class: "table-responsive" }, h("table", { class: "table table-sm mb-2" },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", { class: "text-break-all" }, c)))))));
}

function elementsSection(e) {
  const parts = [];
  const equipment = (e.equipment || []).map((x) => [x.name, x.category || "–", confidence(x.confidence), ranges(x.time_ranges)]);
  if (equipment.length) parts.push(h("h4", { class: "h6 mt-2" }, "Equipment"), table(["Name", "Category", "Confidence", "When"], equipment));
  const topics = (e.topics || []).map((x) => [x.name, x.description || "", ranges(x.time_ranges)]);
  if (topics.length) parts.push(h("h4", { class: "h6 mt-2" }, "Topics"), table(["Topic", "Description", "When"], topics));
  const people = e.people || {};
  if (people.max_count || (people.descriptions || []).length) {
    parts.push(h("h4", { class: "h6 mt-2" }, "People"),
      h("div", { class: "small" }, people.max_count !== null && people.max_count !== undefined ? `At most ${people.max_count} at once` : ""),
      bulletList(people.descriptions));
  }
  const speakers = (e.speakers || []).map((x) => [x.label, x.role || "–", ranges(x.time_ranges)]);
  if (speakers.length) parts.push(h("h4", { class: "h6 mt-2" }, "Speakers"), table(["Speaker", "Role", "When"], speakers));
  if ((e.text_visible || []).length) parts.push(h("h4", { class: "h6 mt-2" }, "Visible text"), bulletList(e.text_visible));
  const v = e.visual;
  if (v) {
    parts.push(h("h4", { class: "h6 mt-2" }, "Look and sound"), h("div", { class: "d-flex flex-wrap gap-3 small align-items-center" },
      (v.dominant_colors || []).filter((c) => /^#[0-9a-fA-F]{6}$/.test(c)).map((c) => h("span", { class: "d-inline-flex align-items-center gap-1" },
        h("span", { style: { display: "inline-block", width: "1rem", height: "1rem", background: c, border: "1px solid #ccc", borderRadius: "3px" } }), c)),
      v.brightness ? h("span", {}, `brightness: ${v.brightness}`) : null,
      v.motion ? h("span", {}, `motion: ${v.motion}`) : null,
      v.has_audio === true ? h("span", {}, "has audio") : v.has_audio === false ? h("span", {}, "no audio") : null));
  }
  return section("Elements", parts.length ? parts : h("div", { class: "text-muted small" }, "Nothing detected."));
}

function classificationSection(w) {
  const dims = [["family", "Family"], ["tier_level", "Tier"], ["functional_type", "Functional type"], ["sub_type", "Sub-type"]];
  const conf = w.confidence || {};
  const reasons = w.unknown_reasons || {};
  const rows = dims.map(([key, label]) => [label, h("strong", {}, w[key] || "Unknown"),
    h("div", { class: "confidence" }, h("div", { class: "progress", style: { height: "6px" }, role: "progressbar",
      "aria-label": `${label} confidence`, "aria-valuenow": String(Math.round((conf[key] || 0) * 100)), "aria-valuemin": "0", "aria-valuemax": "100" },
    h("div", { class: "progress-bar", style: { width: `${(conf[key] || 0) * 100}%` } })), h("span", { class: "small" }, confidence(conf[key]))),
    reasons[key] ? h("span", { class: "small text-muted" }, reasons[key]) : ""]);
  const tags = [...(w.search_tags || []), ...(w.product_keywords || [])];
  return section("Waterfall classification",
    table(["Dimension", "Value", "Confidence", "Why unknown"], rows),
    h("div", { class: "small mb-2" }, `Overall confidence ${confidence(conf.overall)} · content: ${w.content_type || "–"} · skill level: ${w.skill_level || "–"}`),
    (w.evidence || []).length ? [h("div", { class: "small fw-semibold" }, "Evidence"), bulletList(w.evidence)] : null,
    tags.length ? h("div", { class: "mt-2 d-flex flex-wrap gap-1" }, tags.map((t) => h("span", { class: "badge text-bg-light border" }, t))) : null);
}

function metadataSection(m) {
  const rows = [];
  const date = m.recording_date || {};
  rows.push(row("Recording date", date.date || "unknown", date.date ? h("span", { class: "text-muted" },
    ` (${date.source || "?"}, ${confidence(date.confidence)})`) : null));
  const p = m.project || {};
  const project = [p.name, p.customer && `customer ${p.customer}`, p.code && `code ${p.code}`].filter(Boolean).join(" · ");
  if (project) rows.push(row("Project", project));
  const l = m.location || {};
  const place = [l.name, l.city, l.region, l.country].filter(Boolean).join(", ");
  if (place) rows.push(row("Location", place));
  if (l.gps && Number.isFinite(l.gps.latitude)) rows.push(row("GPS", `${l.gps.latitude}, ${l.gps.longitude}`));
  if (m.camera) rows.push(row("Camera", m.camera));
  const entities = (m.entities || []).map((e) => [e.type || "–", e.value || "", confidence(e.confidence)]);
  return section("Search metadata", h("table", { class: "table table-sm kv" }, h("tbody", {}, rows)),
    entities.length ? [h("div", { class: "small fw-semibold" }, "Entities"), table(["Type", "Value", "Confidence"], entities)] : null,
    (m.keywords || []).length ? h("div", { class: "d-flex flex-wrap gap-1", id: "keywords" },
      m.keywords.map((k) => h("a", { class: "badge text-bg-light border text-decoration-none", href: `/search?q=${encodeURIComponent(k)}` }, k))) : null);
}

// ---- exports ------------------------------------------------------------------------------

function safeName() {
  return (file ? file.name : `file-${fileId}`).replace(/[^\w.-]+/g, "_").slice(0, 80);
}

function csvCell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`; // keep spreadsheets from running it as a formula
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function exportJson() {
  downloadBlob(`${safeName()}.run-${run.id}.json`, JSON.stringify({ file: { id: file.id, name: file.name, path: file.path }, run }, null, 2),
    "application/json");
}

function exportCsv() {
  const lines = [["index", "start_seconds", "end_seconds", "start", "end", "title", "summary"].join(",")];
  chapters.forEach((c, i) => lines.push([i + 1, c.start_seconds, c.end_seconds, fmtDuration(c.start_seconds),
    fmtDuration(c.end_seconds), c.title, c.summary].map(csvCell).join(",")));
  downloadBlob(`${safeName()}.run-${run.id}.chapters.csv`, `${lines.join("\r\n")}\r\n`, "text/csv;charset=utf-8");
}

// ---- actions ------------------------------------------------------------------------------

async function generateProxy() {
  try {
    const { task_id: taskId } = await api.post("/api/files/proxies", { file_ids: [fileId], force: Boolean(file.has_proxy) });
    trackTask($("#file-activity"), taskId, { title: "Generating proxy", onDone: async () => { await loadFile(); showRun(run); } });
  } catch (err) {
    toast(errorText(err), "error");
  }
}

function analyze() {
  openAnalyzeDialog({
    target: { file_ids: [fileId] }, count: 1,
    onSubmitted: (outcome) => {
      if (outcome.kind === "task") {
        trackTask($("#file-activity"), outcome.task.task_id, { title: "Analysing (on demand)", onDone: () => { run = null; loadRuns(); } });
      } else {
        toast(`Submitted as #${outcome.batch.id}.`, "success");
      }
      run = null;
      loadRuns();
    },
  });
}

async function remove() {
  const ok = await confirmDialog({
    title: "Remove this file from the library?",
    body: [h("p", {}, "Its record, proxy, thumbnail and analysis results are removed from the app."),
      h("p", { class: "fw-semibold mb-0" }, "The original file stays on disk, untouched.")],
    confirmLabel: "Remove from library", danger: true,
  });
  if (!ok) return;
  try {
    await api.del(`/api/files/${fileId}`);
    location.href = "/files";
  } catch (err) {
    toast(errorText(err), "error");
  }
}

async function init() {
  initAnalyzeDialog();
  initTranscript(fileId);
  initSimilar(fileId);
  $("#run-switcher").addEventListener("change", (e) => showRun(runs.find((r) => r.id === Number(e.target.value))));
  $("#export-json").addEventListener("click", exportJson);
  $("#export-csv").addEventListener("click", exportCsv);
  $("#file-analyze").addEventListener("click", analyze);
  $("#file-proxy").addEventListener("click", generateProxy);
  $("#file-delete").addEventListener("click", remove);
  if (await loadFile()) await loadRuns();
}

init();
