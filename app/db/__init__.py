"""The data layer: SQL for the app's tables, one module per table family; connections and migrations.

Functions take the connection first, bind every value, never commit on their own (the caller owns the
transaction) and never import Flask; the web layer keeps its per-request connection (app/routes/_db.py).
"""
from app.db.migrator import migrate
from app.utils.sqlite import connect, transaction

__all__ = ["connect", "migrate", "transaction"]
