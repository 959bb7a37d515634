"""File checks and write-then-rename, so decoders never see empty files and readers never see half-written ones."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import MediaError


@contextmanager
def atomic_target(dest: Path) -> Iterator[Path]:
    """Yield a temp path beside `dest`; move it onto `dest` on success, delete it on any exception."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as dest so os.replace is a rename on one filesystem, never a copy.
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp creates 0600; proxies and thumbnails are ordinary readable files.
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_readable(path: Path) -> None:
    """Raise MediaError for missing, non-regular or empty files before a decoder sees them."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError("file not found") from None
    except OSError as exc:
        raise MediaError(f"cannot read file: {exc.strerror or exc}") from None
    if not path.is_file():
        raise MediaError("not a regular file")
    if size == 0:
        raise MediaError("empty file (0 bytes)")
