"""SQL for source files and their derived proxies and thumbnails."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from app.utils.clock import iso
from app.utils.sqlite import in_batches

FILE_COLUMNS = (
    "path", "folder", "name", "size_bytes", "mtime", "fingerprint", "media_type", "mime_type", "container",
    "duration_seconds", "width", "height", "fps", "video_codec", "audio_codec", "audio_channels", "bitrate",
    "created_at", "created_source", "gps_latitude", "gps_longitude", "camera", "orientation", "origin",
    "status", "error",
)

SORT_COLUMNS = {
    "name": "f.name",
    "path": "f.path",
    "size": "f.size_bytes",
    "duration": "f.duration_seconds",
    "created": "f.created_at",
    "imported": "f.imported_at",
    "media_type": "f.media_type",
}
# What a sort column holds, so a cursor's key can be checked before it is bound: (Python types, may be NULL).
SORT_VALUE_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "name": ((str,), False),
    "path": ((str,), False),
    "size": ((int,), False),
    "duration": ((int, float), True),
    "created": ((str,), True),
    "imported": ((str,), False),
    "media_type": ((str,), False),
}


@dataclass
class FileQuery:
    """Validated list filters (see services.library.parse_file_query)."""

    q: str | None = None
    media_type: str | None = None
    has_proxy: bool | None = None
    analysis: str | None = None
    status: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    created_from: str | None = None
    created_to: str | None = None
    imported_from: str | None = None
    imported_to: str | None = None
    directory: str | None = None
    recursive: bool = True
    ids: list[int] | None = None
    sort: str = "name"
    order: str = "asc"
    page: int = 1
    per_page: int = 50
    # Keyset paging: the (sort value, id) of the last row already shown; the page starts after it.
    after: tuple[Any, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(query: FileQuery) -> tuple[str, list[Any]]:
    """WHERE clause from fixed fragments; every user value is a bound parameter."""
    clauses, params = _filters(query)
    return _join_where(clauses), params


def _join_where(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def _filters(query: FileQuery) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.q:
        # The path holds the name too; a LIKE scan of 100,000 short paths takes ~10 ms, which
        # beat a trigram FTS index here because the index forces a sort of every match.
        clauses.append("f.path LIKE ? ESCAPE '\\'")
        params.append(f"%{_escape_like(query.q)}%")
    if query.media_type:
        clauses.append("f.media_type = ?")
        params.append(query.media_type)
    if query.status:
        clauses.append("f.status = ?")
        params.append(query.status)
    if query.has_proxy is not None:
        clauses.append("f.proxy_bytes IS NOT NULL" if query.has_proxy else "f.proxy_bytes IS NULL")
    if query.analysis:
        clauses.append("f.analysis_status = ?")
        params.append(query.analysis)
    for column, op, value in (
        ("f.size_bytes", ">=", query.min_size),
        ("f.size_bytes", "<=", query.max_size),
        ("f.duration_seconds", ">=", query.min_duration),
        ("f.duration_seconds", "<=", query.max_duration),
    ):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            params.append(value)
    # Dates are compared on their YYYY-MM-DD prefix so '..._to' includes the whole day.
    for column, op, value in (
        ("f.created_at", ">=", query.created_from),
        ("f.created_at", "<", _next_day_prefix(query.created_to)),
        ("f.imported_at", ">=", query.imported_from),
        ("f.imported_at", "<", _next_day_prefix(query.imported_to)),
    ):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            params.append(value)
    if query.directory:
        folder = query.directory.rstrip("/") or "/"
        if query.recursive:
            prefix = folder if folder.endswith("/") else folder + "/"
            clauses.append("(f.folder = ? OR f.folder LIKE ? ESCAPE '\\')")
            params.extend([folder, _escape_like(prefix) + "%"])
        else:
            clauses.append("f.folder = ?")
            params.append(folder)
    if query.ids is not None:
        if not query.ids:
            clauses.append("0")
        else:
            clauses.append(f"f.id IN ({','.join('?' * len(query.ids))})")
            params.extend(query.ids)
    return clauses, params


def _next_day_prefix(day: str | None) -> str | None:
    """The smallest text above every timestamp on `day` (YYYY-MM-DD): its last digit plus one.

    '2024-01-31' -> '2024-01-32': no valid date starts with that, so for stored ISO text it works as the next
    day's prefix does, and unlike date arithmetic it has no overflow after 9999-12-31.
    """
    if day is None:
        return None
    return day[:-1] + chr(ord(day[-1]) + 1)


LIST_SELECT = """
SELECT f.*, p.path AS proxy_path, p.size_bytes AS proxy_size_bytes, p.width AS proxy_width,
       p.height AS proxy_height, p.spec AS proxy_spec, t.path AS thumbnail_path
FROM files f
LEFT JOIN derivatives p ON p.file_id = f.id AND p.kind = 'proxy'
LEFT JOIN derivatives t ON t.file_id = f.id AND t.kind = 'thumbnail'
"""


def list_page(conn: sqlite3.Connection, query: FileQuery) -> tuple[list[sqlite3.Row], bool]:
    """One page of rows in sort order (by `query.after` when set, else by page number), and whether more follow.

    The page's ids are found first from files alone, then only those rows are joined to their derivatives:
    with OFFSET, joining every skipped row cost 50 ms at page 2,000 of 100,000 (BENCHMARKS.md).
    """
    limit = query.per_page + 1  # one more than shown tells whether a next page exists
    if query.after is None:
        ids = _ids_by_offset(conn, query, limit)
    else:
        ids = _ids_after(conn, query, query.after, limit)
    rows = {row["id"]: row for row in get_files(conn, ids[: query.per_page])}
    return [rows[i] for i in ids[: query.per_page] if i in rows], len(ids) > query.per_page


def sort_key(row: sqlite3.Row, sort: str) -> tuple[Any, int]:
    """The (sort value, id) of a listed row: what `FileQuery.after` takes to continue after it."""
    return row[SORT_COLUMNS[sort].removeprefix("f.")], row["id"]


def _order_by(query: FileQuery) -> str:
    direction = "DESC" if query.order == "desc" else "ASC"
    return f" ORDER BY {SORT_COLUMNS[query.sort]} {direction}, f.id {direction}"


def _ids_by_offset(conn: sqlite3.Connection, query: FileQuery, limit: int) -> list[int]:
    where, params = _where(query)
    offset = (query.page - 1) * query.per_page
    sql = f"SELECT f.id FROM files f{where}{_order_by(query)} LIMIT ? OFFSET ?"
    return [row[0] for row in conn.execute(sql, [*params, limit, offset])]


def _ids_after(conn: sqlite3.Connection, query: FileQuery, after: tuple[Any, int], limit: int) -> list[int]:
    """Ids that follow `query.after` in sort order, read segment by segment until `limit` are found.

    SQLite sorts NULL below every value: ascending, the NULL rows come first (by id), descending, last. Each
    segment is one index seek (a sort column's index holds the rowid too, so "column = ? AND id > ?" is an
    exact range); a row-value comparison "(column, id) > (?, ?)" would seek on the column alone and then
    walk every tie, which for media_type is most of the table.
    """
    value, last_id = after
    column = SORT_COLUMNS[query.sort]
    if query.order == "desc":
        if value is None:
            segments = [(f"{column} IS NULL AND f.id < ?", [last_id])]
        else:
            segments = [(f"{column} = ? AND f.id < ?", [value, last_id]), (f"{column} < ?", [value]),
                        (f"{column} IS NULL", [])]
    elif value is None:
        segments = [(f"{column} IS NULL AND f.id > ?", [last_id]), (f"{column} IS NOT NULL", [])]
    else:
        segments = [(f"{column} = ? AND f.id > ?", [value, last_id]), (f"{column} > ?", [value])]
    clauses, params = _filters(query)
    ids: list[int] = []
    for condition, values in segments:
        sql = f"SELECT f.id FROM files f{_join_where([*clauses, condition])}{_order_by(query)} LIMIT ?"
        ids += [row[0] for row in conn.execute(sql, [*params, *values, limit - len(ids)])]
        if len(ids) >= limit:
            break
    return ids


def summarize_files(conn: sqlite3.Connection, query: FileQuery) -> dict[str, Any]:
    where, params = _where(query)
    row = conn.execute(
        "SELECT COUNT(*) AS count, COALESCE(SUM(f.size_bytes), 0) AS total_bytes,"
        " COALESCE(SUM(f.duration_seconds), 0) AS total_duration_seconds,"
        " COALESCE(SUM(f.proxy_bytes), 0) AS proxy_bytes"
        f" FROM files f{where}",
        params,
    ).fetchone()
    return {
        "count": row["count"],
        "total_bytes": row["total_bytes"],
        "total_duration_seconds": round(row["total_duration_seconds"], 3),
        "proxy_bytes": row["proxy_bytes"],
    }


def iter_file_ids(conn: sqlite3.Connection, query: FileQuery) -> Iterator[int]:
    """Every id matching the filters (no paging), in a stable order."""
    where, params = _where(query)
    for row in conn.execute(f"SELECT f.id FROM files f{where} ORDER BY f.id", params):
        yield row[0]


def get_file(conn: sqlite3.Connection, file_id: int) -> sqlite3.Row | None:
    return conn.execute(f"{LIST_SELECT} WHERE f.id = ?", (file_id,)).fetchone()


def get_files(conn: sqlite3.Connection, file_ids: Iterable[int]) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = []
    for part, marks in in_batches(file_ids):
        rows.extend(conn.execute(f"{LIST_SELECT} WHERE f.id IN ({marks})", part))
    return rows


def existing_by_path(conn: sqlite3.Connection, paths: Iterable[str]) -> dict[str, sqlite3.Row]:
    found: dict[str, sqlite3.Row] = {}
    for part, marks in in_batches(paths):
        sql = f"SELECT id, path, size_bytes, mtime, status FROM files WHERE path IN ({marks})"
        for row in conn.execute(sql, part):
            found[row["path"]] = row
    return found


def find_by_fingerprint(conn: sqlite3.Connection, fingerprint: str, size_bytes: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT id, path FROM files WHERE fingerprint = ? AND size_bytes = ?", (fingerprint, size_bytes)
    ).fetchall()


def insert_file(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    stamp = iso()
    columns = [c for c in FILE_COLUMNS if c in values]
    sql = (
        f"INSERT INTO files ({', '.join(columns)}, imported_at, updated_at)"
        f" VALUES ({', '.join('?' * len(columns))}, ?, ?)"
    )
    cur = conn.execute(sql, [values[c] for c in columns] + [stamp, stamp])
    return int(cur.lastrowid)


def update_file(conn: sqlite3.Connection, file_id: int, values: dict[str, Any]) -> None:
    columns = [c for c in FILE_COLUMNS if c in values]
    if not columns:
        return
    assignments = ", ".join(f"{c} = ?" for c in columns)
    conn.execute(
        f"UPDATE files SET {assignments}, updated_at = ? WHERE id = ?",
        [values[c] for c in columns] + [iso(), file_id],
    )


def delete_file(conn: sqlite3.Connection, file_id: int) -> None:
    conn.execute("DELETE FROM files WHERE id = ?", (file_id,))


def get_derivatives(conn: sqlite3.Connection, file_id: int) -> dict[str, sqlite3.Row]:
    rows = conn.execute("SELECT * FROM derivatives WHERE file_id = ?", (file_id,)).fetchall()
    return {row["kind"]: row for row in rows}


def upsert_derivative(
    conn: sqlite3.Connection,
    file_id: int,
    kind: str,
    *,
    path: str,
    spec: str,
    size_bytes: int,
    width: int | None,
    height: int | None,
) -> None:
    conn.execute(
        "INSERT INTO derivatives (file_id, kind, path, spec, size_bytes, width, height, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (file_id, kind) DO UPDATE SET path = excluded.path, spec = excluded.spec,"
        " size_bytes = excluded.size_bytes, width = excluded.width, height = excluded.height,"
        " created_at = excluded.created_at",
        (file_id, kind, path, spec, size_bytes, width, height, iso()),
    )
    if kind == "proxy":
        conn.execute("UPDATE files SET proxy_bytes = ? WHERE id = ?", (size_bytes, file_id))
