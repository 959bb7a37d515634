"""Untrusted text made safe to store: control characters and direction overrides removed, length capped."""
from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "\u2026"

_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_SPACES = re.compile(r"[ \t]{2,}|\t")  # a lone space is already what it becomes
# Every character _clean_char may change (Cc, Zl, Zp, Cs and the bidi controls): text without one
# is left as it is, so clean text costs one regex scan instead of a Python call per character.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def _clean_char(ch: str, keep_newlines: bool) -> str:
    """One character made safe: controls and line separators become spaces."""
    if ch == "\n" and keep_newlines:
        return ch
    if ch in _BIDI:
        return ""  # direction overrides can disguise text
    cat = unicodedata.category(ch)
    if cat == "Cs":
        return "\ufffd"  # lone surrogates (undecodable file names) cannot be encoded as UTF-8
    if cat in ("Cc", "Zl", "Zp"):
        return " "
    return ch


def cap(text: str, limit: int) -> str:
    """Cut text to at most limit characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def single_line(value: object, limit: int) -> str:
    """A value as one clean line: no control characters or line breaks, spaces collapsed, capped."""
    if type(value) is str:
        text = value if len(value) <= limit * 4 else value[: limit * 4]
    else:
        text = "" if value is None else str(value)[: limit * 4]
    if text.isprintable() and "  " not in text:
        return cap(text.strip(), limit)  # nothing to clean: the common case, kept fast
    if not text.isprintable():
        text = _UNSAFE.sub(lambda m: _clean_char(m.group(), keep_newlines=False), text)
    return cap(_SPACES.sub(" ", text).strip(), limit)


def paragraphs(value: object, limit: int) -> str:
    """A value as clean multi-line text: newlines kept (at most one blank line), controls dropped."""
    if type(value) is str:
        text = value if len(value) <= limit * 4 else value[: limit * 4]
    else:
        text = "" if value is None else str(value)[: limit * 4]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" not in text:
        if text.isprintable() and "  " not in text:
            return cap(text.strip(), limit)  # one clean line: the commonest case, kept fastest
    elif (text.replace("\n", "").isprintable() and "  " not in text and " \n" not in text
            and "\n " not in text and "\n\n\n" not in text):
        return cap(text.strip(), limit)  # already clean: the common case, kept fast
    if not text.replace("\n", "").isprintable():
        text = _UNSAFE.sub(lambda m: _clean_char(m.group(), keep_newlines=True), text)
    text = "\n".join((_SPACES.sub(" ", line) if "  " in line or "\t" in line else line).strip()
                     for line in text.split("\n"))
    if "\n\n\n" in text:
        text = re.sub(r"\n{3,}", "\n\n", text)
    return cap(text.strip(), limit)
