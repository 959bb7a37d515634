"""HTML pages: server-rendered shells whose data comes from the JSON APIs via small JS modules."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from app.routes import security
from app.routes._helpers import settings

bp = Blueprint("pages", __name__)


@bp.get(security.SIGNIN_PAGE)
def signin():
    """The sign-in form (its module posts the token to /api/session); signed in already, go on."""
    token = settings().API_TOKEN
    if not token or security.authenticated_by(token):
        return redirect(security.safe_next(request.args.get("next")))
    return render_template("signin.html", active=None)


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
