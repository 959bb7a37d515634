"""JSON API for the media library: import, upload, list, detail, media, delete, proxies."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify, request, send_file

from app.errors import BadRequest
from app.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from app.routes._helpers import get_db, json_body, services, settings
from app.services import analysis, derivatives, importing, library, pipeline, uploads
from app.services.params import bool_param, json_bool

bp = Blueprint("files", __name__, url_prefix="/api/files")


@bp.post("/import-directory")
def import_directory():
    body = json_body()
    recursive = json_bool("recursive", body.get("recursive", True))
    generate_proxies = json_bool("generate_proxies", body.get("generate_proxies", True))
    folder = importing.resolve_library_dir(settings(), body.get("path"))
    task_id = pipeline.start_import(services(), get_db(), folder, recursive=recursive,
                                    generate_proxies=generate_proxies)
    return jsonify({"task_id": task_id, "path": str(folder), "recursive": recursive}), 202


@bp.post("/upload")
def upload():
    files = request.files.getlist("files") or request.files.getlist("file")
    if not files:
        raise BadRequest("send one or more files in multipart field 'files'", code="no_files")
    received = []
    for item in files:
        received.append((item.filename, Path(item.stream.name)))
        item.stream.close()
    result = uploads.store_uploads(get_db(), settings(), received)
    result["proxies_task_id"] = pipeline.after_upload(services(), get_db(), [f["id"] for f in result["items"]])
    return jsonify(result), 201


@bp.get("/upload/limits")
def upload_limits():
    """What the page checks before sending a file, so a file the server would refuse is not sent at all: the
    byte limits applied while streaming, chosen by extension (the server still checks everything)."""
    config = settings()
    return jsonify({"max_video_bytes": config.MAX_VIDEO_SIZE_MB * uploads.MB,
                    "max_image_bytes": config.MAX_IMAGE_SIZE_MB * uploads.MB,
                    "video_extensions": sorted(VIDEO_EXTENSIONS), "image_extensions": sorted(IMAGE_EXTENSIONS)})


@bp.get("")
def list_files():
    query = library.parse_file_query(request.args)
    return jsonify(library.list_files(get_db(), query))


@bp.get("/<int:file_id>")
def get_file(file_id: int):
    return jsonify(library.file_to_dict(library.get_file(get_db(), file_id), detail=True))


@bp.delete("/<int:file_id>")
def delete_file(file_id: int):
    delete_original = bool_param("delete_original", request.args.get("delete_original", "false"))
    return jsonify(library.delete_file(get_db(), settings(), file_id, delete_original=delete_original))


@bp.get("/<int:file_id>/thumbnail")
def thumbnail(file_id: int):
    path, _row = library.derivative_path(settings(), get_db(), file_id, "thumbnail")
    return send_file(path, mimetype="image/jpeg", conditional=True, max_age=3600)


@bp.get("/<int:file_id>/proxy")
def proxy(file_id: int):
    path, row = library.derivative_path(settings(), get_db(), file_id, "proxy")
    if row["media_type"] == "video":
        mimetype = "video/mp4"
    else:
        mimetype = "image/png" if path.suffix == ".png" else "image/jpeg"
    # conditional=True gives HTTP Range support (206 Partial Content) so players can seek.
    return send_file(path, mimetype=mimetype, conditional=True, max_age=0)


@bp.post("/proxies")
def generate_proxies():
    params = derivatives.validate_request(get_db(), json_body())
    return jsonify({"task_id": pipeline.start_proxies(services(), get_db(), params)}), 202


@bp.get("/<int:file_id>/analyses")
def file_analyses(file_id: int):
    conn = get_db()
    library.get_file(conn, file_id)
    return jsonify({"items": analysis.list_file_runs(conn, file_id)})
