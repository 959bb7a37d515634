"""The folder picker: one folder of the library roots at a time, names only, validated as import-directory is."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from app.config import Settings
from app.services.importing import (OUTSIDE_ROOTS, entry_target, is_within, media_type_for_name,
                                    resolve_library_dir, unusable)

MAX_LISTED_FOLDERS = 1000
# has_subfolders stops reading a folder after this many entries and answers True ("open it to see"): a
# folder of 100,000 photos is not read to its end to draw an arrow.
SUBFOLDER_PROBE_ENTRIES = 1000
NOT_UTF8_NAME = "the name is not valid UTF-8; rename the folder to import it"


def library_roots(settings: Settings) -> dict[str, Any]:
    """GET /api/folders: the picker's starting points, each with whether it can be listed now."""
    return {"roots": [{"name": _shown(root.name or str(root)), "path": _shown(str(root)),
                       "available": os.path.isdir(root) and os.access(root, os.R_OK | os.X_OK)}
                      for root in settings.LIBRARY_ROOTS]}


def list_folder(settings: Settings, raw_path: Any) -> dict[str, Any]:
    """GET /api/folders?path=: the subfolders of a folder (validated as import-directory validates it) and
    how many files directly inside an import would take. Only names are read, never contents; file names
    are counted, never returned. Hidden entries and symlinks whose target leaves the roots are not listed,
    as the import skips them; names that are not UTF-8 come with replacement characters and no path."""
    folder = resolve_library_dir(settings, raw_path)
    roots = list(settings.LIBRARY_ROOTS)
    try:
        with os.scandir(folder) as entries:
            subfolders, media_files = _folder_contents(folder, list(entries), roots)
    except OSError as exc:
        raise unusable(exc) from None
    subfolders.sort(key=lambda name: (name.casefold(), name))
    outermost = min((r for r in roots if is_within(folder, r)), key=lambda r: len(r.parts))
    above = folder.parent
    return {"path": str(folder), "root": str(outermost),
            "parent": str(above) if above != folder and any(is_within(above, r) for r in roots) else None,
            "folders": [_folder_item(folder / name, roots) for name in subfolders[:MAX_LISTED_FOLDERS]],
            "media_files": media_files, "truncated": len(subfolders) > MAX_LISTED_FOLDERS}


def _folder_contents(folder: Path, entries: list[os.DirEntry], roots: list[Path]) -> tuple[list[str], int]:
    """(names of the subfolders the import would enter, count of the media files it would take)."""
    subfolders: list[str] = []
    media_files = 0
    for entry in entries:
        if entry.name.startswith("."):
            continue
        target = entry_target(entry, entry.path, folder, roots, OUTSIDE_ROOTS, True, _ignore)
        if target is not None and target[1]:
            subfolders.append(entry.name)
        elif target is not None and media_type_for_name(entry.name) and _shown(entry.name) == entry.name:
            media_files += 1
    return subfolders, media_files


def _folder_item(path: Path, roots: list[Path]) -> dict[str, Any]:
    name = _shown(path.name)
    if name != path.name:  # the import-directory API takes only valid Unicode paths
        return {"name": name, "path": None, "has_subfolders": False, "problem": NOT_UTF8_NAME}
    return {"name": name, "path": str(path), "has_subfolders": _has_subfolders(path, roots)}


def _has_subfolders(path: Path, roots: list[Path]) -> bool:
    try:
        with os.scandir(path) as entries:
            for count, entry in enumerate(entries):
                if count >= SUBFOLDER_PROBE_ENTRIES:
                    return True
                if entry.name.startswith("."):
                    continue
                target = entry_target(entry, entry.path, path, roots, OUTSIDE_ROOTS, True, _ignore)
                if target is not None and target[1]:
                    return True
    except OSError:  # unreadable: opening it says why
        return False
    return False


def _shown(name: str) -> str:
    """A name as text: bytes that are not UTF-8 (kept by os as surrogates) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _ignore(_item: str, _reason: str) -> None:
    """The picker lists what the import would take; why something is left out is the import's report."""
