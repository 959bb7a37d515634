// The import panel's folder picker: a dialog that walks the folders inside LIBRARY_ROOTS as the server lists
// them (GET /api/folders: folder names and a media count, never file names or contents) and hands back the
// chosen folder's path. Every name is inserted as text: a folder may be called "<script>".
import { api, withQuery } from "./api.js";
import { h, clear, fmtNumber, errorText, notice } from "./dom.js";

// Opens the dialog at `start` (a folder path; the roots when it is empty or cannot be listed) and calls
// onChoose(path) with the folder the user chooses.
export function openFolderPicker({ start, onChoose }) {
  const view = buildDialog();
  const modal = new window.bootstrap.Modal(view.el);
  const opener = document.activeElement;
  const picker = { view, current: null, request: 0 };
  view.choose.addEventListener("click", () => {
    if (!picker.current) return;
    onChoose(picker.current.path);
    modal.hide();
  });
  view.up.addEventListener("click", () => {
    if (picker.current && picker.current.parent) showFolder(picker, picker.current.parent);
    else showRoots(picker);
  });
  view.el.addEventListener("hidden.bs.modal", () => {
    view.el.remove();
    if (opener && opener.isConnected) opener.focus();  // a dialog gives focus back to what opened it
  });
  document.body.append(view.el);
  modal.show();
  if (start) showFolder(picker, start, { orRoots: true });
  else showRoots(picker);
}

function buildDialog() {
  const up = h("button", { type: "button", class: "btn btn-sm btn-outline-secondary text-nowrap", disabled: true },
    "↑ Up");
  const crumbs = h("ol", { class: "breadcrumb mb-0 folder-crumbs" });
  const summary = h("p", { class: "small text-muted mb-2 folder-summary", role: "status" });
  const message = h("div", { class: "folder-message" });
  const list = h("div", { class: "list-group folder-list", "aria-label": "Folders" });
  const choose = h("button", { type: "button", class: "btn btn-primary", disabled: true }, "Choose this folder");
  const el = h("div", { class: "modal fade", id: "folder-picker", tabindex: "-1", role: "dialog", "aria-modal": "true",
    "aria-labelledby": "folder-picker-title" },
  h("div", { class: "modal-dialog modal-lg modal-dialog-scrollable" },
    h("div", { class: "modal-content" },
      h("div", { class: "modal-header" },
        h("h2", { class: "modal-title fs-5", id: "folder-picker-title" }, "Choose a folder to import"),
        h("button", { type: "button", class: "btn-close", "data-bs-dismiss": "modal", "aria-label": "Close" })),
      h("div", { class: "modal-body" },
        h("nav", { class: "d-flex align-items-start gap-2 mb-2", "aria-label": "Where you are" }, up, crumbs),
        summary, message, list),
      h("div", { class: "modal-footer" },
        h("button", { type: "button", class: "btn btn-outline-secondary", "data-bs-dismiss": "modal" }, "Cancel"),
        choose))));
  return { el, up, crumbs, summary, message, list, choose };
}

// Each listing request gets a number: an answer that arrives after a newer request was made is dropped,
// so quick clicks never show a folder the user already left.
async function fetchListing(picker, url) {
  const ticket = ++picker.request;
  picker.view.list.setAttribute("aria-busy", "true");
  try {
    const data = await api.get(url);
    return ticket === picker.request ? { data } : null;
  } catch (error) {
    return ticket === picker.request ? { error } : null;
  } finally {
    if (ticket === picker.request) picker.view.list.removeAttribute("aria-busy");
  }
}

async function showRoots(picker, problem) {
  const answer = await fetchListing(picker, "/api/folders");
  if (!answer) return;
  const { view } = picker;
  if (answer.error) {
    clear(view.message, notice(`The folders cannot be listed: ${errorText(answer.error)}`, "danger"));
    return;
  }
  picker.current = null;
  view.choose.disabled = true;
  view.up.disabled = true;
  clear(view.crumbs, crumb("Library roots"));
  clear(view.summary, "The folders this app may import from (LIBRARY_ROOTS). Open one to choose a folder in it.");
  clear(view.message, problem ? notice(problem) : null);
  clear(view.list, answer.data.roots.map((root) => folderEntry(picker, {
    name: root.name, path: root.path, detail: root.path, has_subfolders: true,
    problem: root.available ? null : "missing or unreadable on the server",
  })));
  focusList(view);
}

async function showFolder(picker, path, { orRoots = false } = {}) {
  const answer = await fetchListing(picker, withQuery("/api/folders", { path }));
  if (!answer) return;
  if (answer.error && orRoots) {
    showRoots(picker, `The folder in the path field cannot be opened here: ${errorText(answer.error)}`);
  } else if (answer.error) {
    clear(picker.view.message, notice(errorText(answer.error), "danger"));  // the listing shown stays
  } else {
    renderFolder(picker, answer.data);
  }
}

function renderFolder(picker, data) {
  const { view } = picker;
  picker.current = data;
  view.choose.disabled = false;
  view.up.disabled = false;  // at a root, Up goes back to the list of roots
  clear(view.crumbs, trail(picker, data));
  const count = data.media_files;
  clear(view.summary, count === 0 ? "No videos or photos directly in this folder."
    : `${fmtNumber(count)} video${count === 1 ? " or photo" : "s and photos"} directly in this folder.`);
  clear(view.message, data.truncated
    ? notice(`Only the first ${fmtNumber(data.folders.length)} subfolders are listed; type a path to reach the others.`)
    : null);
  clear(view.list, data.folders.length ? data.folders.map((folder) => folderEntry(picker, folder))
    : h("p", { class: "small text-muted mb-0" }, "No subfolders."));
  focusList(view);
}

// The breadcrumb: the roots, the root of this folder, then each folder down to this one.
function trail(picker, data) {
  const items = [crumb("Library roots", () => showRoots(picker))];
  const below = data.path === data.root ? "" : data.path.slice(data.root.length);
  const steps = [{ name: lastName(data.root), path: data.root }];
  let path = data.root;
  for (const name of below.split("/").filter(Boolean)) {
    path = path.endsWith("/") ? `${path}${name}` : `${path}/${name}`;
    steps.push({ name, path });
  }
  steps.forEach((step, index) => items.push(index === steps.length - 1 ? crumb(step.name)
    : crumb(step.name, () => showFolder(picker, step.path))));
  return items;
}

// A step of the breadcrumb: a button, or (without onclick) the place the user is.
function crumb(label, onclick) {
  const here = !onclick;
  return h("li", { class: `breadcrumb-item${here ? " active" : ""}`, "aria-current": here ? "location" : undefined },
    here ? h("span", { class: "folder-name" }, label)
      : h("button", { type: "button", class: "btn btn-link btn-sm p-0 align-baseline folder-name", onclick }, label));
}

function folderEntry(picker, folder) {
  if (!folder.path || folder.problem) {
    return h("div", { class: "list-group-item text-muted" },
      h("span", { class: "folder-name" }, folder.name), h("div", { class: "small" }, folder.problem));
  }
  return h("button", { type: "button", class: "list-group-item list-group-item-action d-flex align-items-center gap-2",
    onclick: () => showFolder(picker, folder.path) },
  h("span", { class: "folder-name fw-medium" }, folder.name),
  folder.detail ? h("span", { class: "small text-muted folder-name" }, folder.detail) : null,
  folder.has_subfolders ? h("span", { class: "ms-auto text-muted", "aria-hidden": "true" }, "›") : null);
}

function lastName(path) {
  return path.split("/").filter(Boolean).pop() || "/";
}

// After a listing replaces the button that had focus, focus goes to the first folder (or Choose).
function focusList(view) {
  if (!view.el.classList.contains("show")) return;  // Bootstrap focuses the dialog itself as it opens
  const first = view.list.querySelector("button");
  (first || (view.choose.disabled ? view.up : view.choose)).focus();
}
