"""JSON API of the folder picker: the library roots, and the subfolders of one folder inside them."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.routes._helpers import settings
from app.services import folders

bp = Blueprint("folders", __name__, url_prefix="/api/folders")


@bp.get("")
def list_folders():
    """Without `path`: the roots. With it: that folder, validated as POST /api/files/import-directory is."""
    if "path" not in request.args:
        return jsonify(folders.library_roots(settings()))
    return jsonify(folders.list_folder(settings(), request.args.get("path")))
