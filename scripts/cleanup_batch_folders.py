"""Clean batch staging storage: `python scripts/cleanup_batch_folders.py [--no-dry-run] [--yes] ...`
(or `python -m scripts.cleanup_batch_folders ...`).

Dry run by default: prints what would be deleted. Exits 1 on errors, 2 on bad configuration.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run by path: make the project importable as it is with -m
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dotenv import load_dotenv  # noqa: E402

from app.config import ConfigError, load_settings  # noqa: E402
from app.errors import BadRequest  # noqa: E402
from app.db import connect, migrate  # noqa: E402
from app.services.backends import build_object_store  # noqa: E402
from app.services.batch import cleanup  # noqa: E402


def _size(num: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num < 1024 or unit == "GB":
            return f"{num:.1f} {unit}" if unit != "B" else f"{num} B"
        num /= 1024
    return f"{num} B"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cleanup_batch_folders",
                                     description="Delete staging and output folders of fully ingested batch jobs.")
    parser.add_argument("--no-dry-run", action="store_true", help="really delete (default: only report)")
    parser.add_argument("--older-than-days", type=float, default=None, help="only jobs finished before N days ago")
    parser.add_argument("--include-failed", action="store_true", help="also clean failed jobs' staging")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    if args.older_than_days is not None:
        try:
            cleanup.older_days(args.older_than_days)
        except BadRequest as exc:
            parser.error(f"--older-than-days: {exc.message}")

    load_dotenv(override=False)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    conn = connect(settings.DATABASE_PATH)
    try:
        migrate(conn)
        store = build_object_store(settings)
        options = {"include_failed": args.include_failed, "older_than_days": args.older_than_days}
        preview = cleanup.cleanup(conn, store, dry_run=True, **options)
        print(f"{preview.jobs_cleaned} job(s) to clean: {preview.objects_deleted} object(s), "
              f"{_size(preview.bytes_freed)}")
        report = preview
        if args.no_dry_run and preview.jobs_cleaned:
            if not args.yes:
                if not sys.stdin.isatty():
                    print("Refusing to delete without confirmation: pass --yes", file=sys.stderr)
                    return 1
                if input("Delete them? [y/N] ").strip().lower() not in {"y", "yes"}:
                    print("Nothing deleted.")
                    return 0
            report = cleanup.cleanup(conn, store, dry_run=False, **options)
            print(f"Deleted {report.objects_deleted} object(s) from {report.jobs_cleaned} job(s), "
                  f"freed {_size(report.bytes_freed)}")
        elif not args.no_dry_run:
            print("Dry run: nothing deleted (use --no-dry-run to delete).")
        for error in report.errors:
            print(f"error: chunk {error['chunk_id']}: {error['message']}", file=sys.stderr)
        return 1 if report.errors else 0
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
