"""JSON API for full-text search."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.routes._helpers import get_db
from app.services import search

bp = Blueprint("search", __name__, url_prefix="/api/search")


@bp.get("")
def search_files():
    args = search.parse_search_args(request.args)
    return jsonify(search.search(get_db(), args["q"], args["media_type"], args["page"], args["per_page"]))
