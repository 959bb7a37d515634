"""JSON API for speech transcripts: a file's transcript (JSON, or .srt/.vtt/.txt downloads), and requests for
transcripts of files, a filter or the whole library with their cost estimate."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.routes._helpers import get_db, json_body, services
from app.services import library
from app.services.params import choice_param
from app.services.transcripts import formats, requests, store

bp = Blueprint("transcripts", __name__)

FORMAT_CHOICES = ("json", *formats.FORMATS)


@bp.get("/api/files/<int:file_id>/transcript")
def file_transcript(file_id: int):
    fmt = choice_param("format", request.args.get("format", "json"), FORMAT_CHOICES)
    conn = get_db()
    if fmt == "json":
        return jsonify(store.file_transcript(conn, library.get_file(conn, file_id)))
    body, content_type, name = formats.download(conn, file_id, fmt)
    return Response(body, content_type=content_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/api/transcripts/estimate")
def estimate():
    conn = get_db()
    return jsonify(requests.estimate(services(), conn, requests.parse_request(conn, json_body())))


@bp.post("/api/transcripts")
def request_transcripts():
    conn = get_db()
    return jsonify(requests.start(services(), conn, requests.parse_request(conn, json_body()))), 202
