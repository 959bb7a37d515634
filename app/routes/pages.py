"""HTML pages: server-rendered shells whose data comes from the JSON APIs via small JS modules."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/files")
def library():
    return render_template("library.html", active="library")


@bp.get("/files/<int:file_id>")
def file_detail(file_id: int):
    return render_template("file.html", active="library", file_id=file_id)


@bp.get("/batches")
def batches():
    return render_template("batches.html", active="batches")


@bp.get("/batches/<int:batch_id>")
def batch_detail(batch_id: int):
    return render_template("batch.html", active="batches", batch_id=batch_id)


@bp.get("/search")
def search():
    return render_template("search.html", active="search")


@bp.get("/reports")
def reports():
    return render_template("reports.html", active="reports")
