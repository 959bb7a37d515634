"""Safe object names for batch staging: only ASCII letters, digits, '-', '_' and '.'."""
from __future__ import annotations

import re
import unicodedata

DEFAULT_MAX_LENGTH = 100
EMPTY_STEM = "file"
MAX_EXTENSION_LENGTH = 10

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SEPARATOR_RUN = re.compile(r"[._-]{2,}")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,%d}" % MAX_EXTENSION_LENGTH)


def _fold(text: str) -> str:
    """Accents folded to their base letters, everything non-ASCII dropped, whitespace to '_'."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_text = ascii_text.encode("ascii", "ignore").decode("ascii")
    return re.sub(r"\s+", "_", ascii_text)


def _collapse(text: str) -> str:
    """Runs of separators become one ('__' -> '_', '..' -> '.', mixed runs -> '_'); ends trimmed."""
    def one(match: re.Match) -> str:
        run = match.group()
        return run[0] if len(set(run)) == 1 else "_"

    return _SEPARATOR_RUN.sub(one, text).strip("._-")


def split_extension(name: str) -> tuple[str, str]:
    """(stem, extension without the dot); the extension is '' unless it is 1-10 letters or digits."""
    stem, dot, ext = name.rpartition(".")
    if dot and stem.strip(". ") and _EXTENSION.fullmatch(_fold(ext)):
        return stem, _fold(ext).lower()
    return name, ""


def sanitize_filename(name: str, file_id: int | str | None = None, *, extension: str | None = None,
                      max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """A name safe in any S3 key and Bedrock URI: `<clean stem>[_<file id>][.<ext>]`, at most max_length.

    Only the last path segment of `name` counts ('../x' is 'x'). `extension` replaces the name's own
    (a proxy is mp4 whatever the original was); the file id makes names unique per file.
    """
    base = re.split(r"[/\\]", name or "")[-1]
    stem, own_ext = split_extension(base)
    ext = own_ext if extension is None else _fold(extension.lstrip(".")).lower()
    ext = _UNSAFE.sub("", ext)[:MAX_EXTENSION_LENGTH]
    suffix = f"_{_UNSAFE.sub('', str(file_id))}" if file_id is not None and str(file_id) != "" else ""
    tail = suffix + (f".{ext}" if ext else "")
    if len(tail) >= max_length:
        raise ValueError(f"max_length {max_length} leaves no room for a name before {tail!r}")
    clean = _collapse(_UNSAFE.sub("", _fold(stem))) or EMPTY_STEM
    clean = _collapse(clean[: max_length - len(tail)]) or EMPTY_STEM[: max_length - len(tail)]
    return clean + tail
