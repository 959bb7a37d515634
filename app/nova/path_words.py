"""The words of a file's folder and name that say something about its content, for the prompt header."""
from __future__ import annotations

import re

MAX_PATH_WORDS = 40

# Words that say nothing about content: extensions, camera prefixes, edit markers, system folders.
NOISE_WORDS = frozenset("""
    mp4 m4v mov avi mkv webm wmv flv mpg mpeg mts m2ts 3gp jpg jpeg png gif webp heic heif tif tiff raw dng
    final copy edited edit export exported render rendered new old tmp temp untitled draft
    v1 v2 v3 v4 v5 video videos vid vids img image images imgs pic pics photo photos dsc dscn dscf dcim mvi pxl
    users home volumes mnt media library documents desktop downloads
""".split())

_DATE_TOKEN = re.compile(r"(?<!\d)(\d{4})[-_.](\d{1,2})[-_.](\d{1,2})(?!\d)")
_TOKEN = re.compile(rf"{_DATE_TOKEN.pattern}|[^\W_]+")
_RUNS = re.compile(r"[^\W\d_]+|\d+")
def _split_camel(token: str) -> list[str]:
    """Split letter/digit runs and camelCase humps: 'BackyardPond2024' -> Backyard, Pond, 2024."""
    parts: list[str] = []
    for run in _RUNS.findall(token):
        start = 0
        for i in range(1, len(run)):
            prev, cur, nxt = run[i - 1], run[i], run[i + 1] if i + 1 < len(run) else ""
            # A hump is lower->Upper, or the last capital of an acronym before a lowercase word (HTMLPage).
            if cur.isupper() and (prev.islower() or (prev.isupper() and nxt.islower())):
                parts.append(run[start:i])
                start = i
        parts.append(run[start:])
    return parts


def path_words(folder: str, name: str) -> tuple[str, ...]:
    """Words from folder and file name: split on separators and camelCase, lowercased, noise dropped."""
    words: list[str] = []
    for match in _TOKEN.finditer(f"{folder} {name}"):
        if match.group(1):
            # Keep dates whole and in ISO order; they are the most useful path clue.
            y, m, d = match.group(1), int(match.group(2)), int(match.group(3))
            words.append(f"{y}-{m:02d}-{d:02d}" if 1 <= m <= 12 and 1 <= d <= 31 else match.group(0))
            continue
        token = match.group(0)
        if token.lower() in NOISE_WORDS:
            continue
        words.extend(part.lower() for part in _split_camel(token))
    seen: set[str] = set()
    out = []
    for word in words:
        if word in NOISE_WORDS or word in seen or (len(word) == 1 and not word.isdigit()):
            continue
        seen.add(word)
        out.append(word)
    return tuple(out[:MAX_PATH_WORDS])
