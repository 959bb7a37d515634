"""JSON API for search: by words, by meaning or both (services/search_modes.py)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.routes._helpers import get_db, services
from app.services import search_modes

bp = Blueprint("search", __name__, url_prefix="/api/search")


@bp.get("")
def search_files():
    return jsonify(search_modes.run_search(services(), get_db(), request.args))
