// The Library page's import panel: a folder path (typed, remembered from the last import, or chosen in the
// folder picker) is imported by a task, followed until it ends, then the proxies task that follows it.
import { api } from "./api.js";
import { $, toast, errorText } from "./dom.js";
import { trackTask } from "./tasks.js";
import { openFolderPicker } from "./folder_picker.js";

const LAST_PATH_KEY = "mediaLibrary.lastImportPath";

// `reload` refreshes the file list: new rows appear while a scan runs.
export function initImportPanel({ reload }) {
  const field = $("#import-path");
  field.value = localStorage.getItem(LAST_PATH_KEY) || "";
  $("#import-form").addEventListener("submit", (event) => startImport(event, reload));
  $("#import-browse").addEventListener("click", () => openFolderPicker({
    start: field.value.trim(),
    onChoose: (path) => { field.value = path; },
  }));
}

async function startImport(event, reload) {
  event.preventDefault();
  const path = $("#import-path").value.trim();
  const button = $("#import-button");
  button.disabled = true;
  try {
    const { task_id: taskId } = await api.post("/api/files/import-directory",
      { path, recursive: $("#import-recursive").checked, generate_proxies: $("#import-proxies").checked });
    localStorage.setItem(LAST_PATH_KEY, path);
    followImport(taskId, reload);
  } catch (err) {
    toast(errorText(err), "error");
  } finally {
    button.disabled = false;
  }
}

function followImport(taskId, reload) {
  const refresher = setInterval(() => reload(), 3000);
  trackTask($("#activity"), taskId, {
    title: "Import",
    onDone: (task) => {
      const r = task.result || {};
      if (task.status === "SUCCEEDED") toast(`Import finished: ${r.new_files ?? task.imported ?? 0} new file(s).`, "success");
      reload();
      if (r.proxies_task_id) trackTask($("#activity"), r.proxies_task_id, { title: "Generating proxies", onDone: () => reload() });
    },
  }).then(() => clearInterval(refresher));
}

// With files in the library the panel folds away (one click opens it again) unless the user is typing in it.
export function foldImportPanel() {
  if ($("#import-panel").contains(document.activeElement)) return;
  $("#import-panel").classList.remove("show");
  $("[data-bs-target='#import-panel']").setAttribute("aria-expanded", "false");
}

// Opens the panel, e.g. when files are dragged over the page while it is folded.
export function showImportPanel() {
  const panel = $("#import-panel");
  if (!panel.classList.contains("show")) window.bootstrap.Collapse.getOrCreateInstance(panel, { toggle: false }).show();
}
