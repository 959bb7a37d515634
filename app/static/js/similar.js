// "Find similar" on the file page: files whose pictures look like this image, or like the moment of the video
// that is playing now (GET /api/files/<id>/similar?t=). Fills #similar-box; results link to their moments.
import { api, withQuery } from "./api.js";
import { h, clear, $, fmtDuration, notice, errorText } from "./dom.js";

function playing() {
  const video = $("#media video");
  return video ? video.currentTime : null;
}

function result(item) {
  const f = item.file;
  const best = (item.moments || [])[0];
  const href = best ? best.url : f.url;
  const src = best && best.frame_url ? best.frame_url : f.thumbnail_url;
  return h("li", { class: "card similar-result" }, h("a", { href, class: "d-flex gap-2 p-2 text-decoration-none" },
    src ? h("img", { class: "moment-thumb", src, alt: "", loading: "lazy" }) : h("div", { class: "moment-thumb" }),
    h("div", { class: "small min-w-0" },
      h("div", { class: "fw-semibold text-break-all similar-name" }, f.name),
      h("div", { class: "text-muted" }, best && best.start_seconds !== null && best.start_seconds !== undefined
        ? `${best.kind} ▶ ${fmtDuration(best.start_seconds)}` : f.media_type, ` · similarity ${Number(item.score).toFixed(2)}`))));
}

async function find(fileId, list, note) {
  const t = playing();
  note.textContent = "Looking…";
  let data;
  try {
    data = await api.get(withQuery(`/api/files/${fileId}/similar`, { t: t === null ? "" : t.toFixed(2) }));
  } catch (err) {
    note.textContent = "";
    clear(list, notice(`Could not find similar files: ${errorText(err)}`, "danger"));
    return;
  }
  const source = data.source && data.source.start_seconds !== null && data.source.start_seconds !== undefined
    ? `the moment ${fmtDuration(data.source.start_seconds)}–${fmtDuration(data.source.end_seconds)}` : "this file";
  note.textContent = data.message || `Most like ${source} · vectors by ${data.backend.name} (${data.backend.model})`;
  clear(list, data.items.length ? data.items.map(result) : (data.message ? [] : h("li", { class: "text-muted small" }, "Nothing similar yet.")));
}

export function initSimilar(fileId) {
  const box = $("#similar-box");
  if (!box) return;
  const note = h("span", { class: "small text-muted", id: "similar-note", "aria-live": "polite" });
  const list = h("ol", { class: "list-unstyled d-grid gap-2 similar-list", id: "similar-results" });
  const button = h("button", { type: "button", class: "btn btn-sm btn-outline-primary", id: "find-similar",
    onclick: () => find(fileId, list, note) }, "Find similar");
  clear(box, h("div", { class: "d-flex flex-wrap align-items-center gap-2 mb-2" },
    h("h2", { class: "h5 mb-0", id: "similar-title" }, "Similar"), button, note), list);
  const video = () => $("#media video");
  document.addEventListener("timeupdate", () => {
    button.textContent = video() ? `Find similar to ${fmtDuration(video().currentTime)}` : "Find similar";
  }, true);
}
