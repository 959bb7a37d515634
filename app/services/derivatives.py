"""Proxies and thumbnails, generated in a bounded pool as a background task."""
from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import files as files_db
from app.db import transaction
from app.errors import BadRequest
from app.media.probe import MediaError
from app.media.proxies import ProxyCancelled, make_image_proxy, make_video_proxy
from app.media.thumbnails import make_thumbnail
from app.services import library
from app.services.params import id_list, json_bool
from app.services.tasks import TaskContext

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    file_id: int
    name: str
    derived: list[tuple[str, dict[str, Any]]]
    error: str | None = None
    skipped: bool = False


def derivative_dir(settings: Settings, file_id: int) -> Path:
    return settings.proxies_dir / f"{file_id % 1000:03d}" / str(file_id)


def _relative(settings: Settings, path: Path) -> str:
    return str(path.relative_to(settings.DATA_DIR))


def make_derivatives(settings: Settings, row: sqlite3.Row, existing: dict[str, Any], *, force: bool,
                     cancel: threading.Event) -> Outcome:
    """Create the missing (or, with force, all) derivatives of one file; never raises for media faults."""
    outcome = Outcome(row["id"], row["name"], [])
    if row["status"] != "ready":
        outcome.skipped = True
        return outcome
    source = Path(row["path"])
    if not source.exists():
        outcome.error = "original file is missing on disk"
        return outcome
    folder = derivative_dir(settings, row["id"])
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if force or "thumbnail" not in existing:
            thumb = make_thumbnail(source, folder / "thumb.jpg", row["media_type"])
            outcome.derived.append(("thumbnail", {
                "path": _relative(settings, Path(thumb.path)), "spec": "jpeg-320w", "size_bytes": thumb.size_bytes,
                "width": thumb.width, "height": thumb.height}))
        if force or "proxy" not in existing:
            if row["media_type"] == "video":
                proxy = make_video_proxy(source, folder / "proxy.mp4", should_cancel=cancel.is_set)
            else:
                proxy = make_image_proxy(source, folder / "proxy")
            outcome.derived.append(("proxy", {
                "path": _relative(settings, Path(proxy.path)), "spec": proxy.spec, "size_bytes": proxy.size_bytes,
                "width": proxy.width, "height": proxy.height}))
    except ProxyCancelled:
        outcome.error = "cancelled"
    except MediaError as exc:
        outcome.error = exc.reason
    except OSError as exc:
        outcome.error = f"cannot write derivative: {exc.strerror or exc}"
    if not outcome.derived and not outcome.error:
        outcome.skipped = True
    return outcome


def run_derivatives(settings: Settings, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    """Task handler: proxies and thumbnails for the selected files."""
    conn = ctx.conn
    force = bool(params.get("force", False))
    ids = _select_ids(conn, params)
    for name in ("generated", "skipped", "failed"):
        ctx.counters.setdefault(name, 0)
    ctx.done = 0
    ctx.set_total(len(ids))
    cancel = threading.Event()
    in_flight: dict[Future, int] = {}
    queue = list(ids)
    with ThreadPoolExecutor(max_workers=settings.PROXY_WORKERS, thread_name_prefix="proxy") as pool:
        try:
            while queue or in_flight:
                while queue and len(in_flight) < settings.PROXY_WORKERS * 2:
                    if ctx.should_stop():
                        break
                    file_id = queue.pop(0)
                    row = files_db.get_file(conn, file_id)
                    if row is None:
                        ctx.advance(skipped=1)
                        continue
                    existing = dict(files_db.get_derivatives(conn, file_id))
                    if not force and {"proxy", "thumbnail"} <= existing.keys() and _on_disk(settings, existing):
                        ctx.advance(skipped=1)
                        continue
                    if not _on_disk(settings, existing):
                        existing = {}
                    in_flight[pool.submit(make_derivatives, settings, row, existing, force=force,
                                          cancel=cancel)] = file_id
                if not in_flight:
                    if queue and ctx.should_stop():
                        ctx.check()
                    continue
                finished, _ = wait(in_flight, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    in_flight.pop(future)
                    _record(ctx, future.result())
                if ctx.should_stop():
                    cancel.set()
                    queue.clear()
        finally:
            cancel.set()
    ctx.set_current(None)
    ctx.check()
    return dict(ctx.counters)


def _on_disk(settings: Settings, existing: dict[str, Any]) -> bool:
    return all((settings.DATA_DIR / row["path"]).exists() for row in existing.values())


def _record(ctx: TaskContext, outcome: Outcome) -> None:
    ctx.set_current(outcome.name)
    if outcome.derived:
        with transaction(ctx.conn):
            for kind, values in outcome.derived:
                files_db.upsert_derivative(ctx.conn, outcome.file_id, kind, **values)
    if outcome.error == "cancelled":
        ctx.advance(0)
    elif outcome.error:
        ctx.fail_item(outcome.name, outcome.error)
        ctx.advance()
    elif outcome.skipped:
        ctx.advance(skipped=1)
    else:
        ctx.advance(generated=1)


def _select_ids(conn: sqlite3.Connection, params: dict[str, Any]) -> list[int]:
    if params.get("file_ids") is not None:
        return [int(i) for i in params["file_ids"]]
    query = library.parse_file_query(params.get("filter") or {}, paged=False)
    if params.get("missing"):
        query.has_proxy = False
    query.status = "ready"
    return list(files_db.iter_file_ids(conn, query))


PROXY_REQUEST_KEYS = ("file_ids", "filter", "force")


def validate_request(conn: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """Turn an API body into task params; ids are checked now so mistakes fail fast. Exactly one of
    `file_ids` (a list of ids) and `filter` (an object of list keys); `force` a JSON boolean; nothing else,
    so a misspelt key is an error rather than a silently different selection."""
    unknown = sorted(k for k in body if k not in PROXY_REQUEST_KEYS)
    if unknown:
        raise BadRequest(f"unknown key(s): {', '.join(unknown)}", code="invalid_parameter",
                         details={"parameter": unknown[0], "allowed": list(PROXY_REQUEST_KEYS)})
    force = json_bool("force", body.get("force", False))
    has_ids, has_filter = body.get("file_ids") is not None, body.get("filter") is not None
    if has_ids and has_filter:
        raise BadRequest("give 'file_ids' or 'filter', not both", code="invalid_parameter",
                         details={"parameter": "filter"})
    if has_ids:
        ids = id_list("file_ids", body["file_ids"])
        return {"file_ids": library.resolve_file_ids(conn, {"file_ids": ids}), "force": force}
    if has_filter:
        if not isinstance(body["filter"], dict):
            raise BadRequest("'filter' must be an object of list query keys", code="invalid_parameter",
                             details={"parameter": "filter"})
        library.resolve_file_ids(conn, {"filter": body["filter"]})
        return {"filter": body["filter"], "force": force}
    raise BadRequest("give 'file_ids' or 'filter'", code="missing_parameter", details={"parameter": "file_ids"})
