"""What a file's name and folder say: dates, topic words and a project guess."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

MIN_YEAR, MAX_YEAR = 1990, 2099

# Words that describe storage or cameras rather than content.
_NOISE_WORDS = frozenset("""
    a an and the of in on at to for with from by or one two three
    img image images dsc dscn dcim pxl vid video videos mov mp4 mkv avi webm jpg jpeg png gif webp heic
    file files media movie movies clip clips photo photos picture pictures
    upload uploads download downloads desktop documents home users user tmp temp data library new copy final edit
    export exports raw camera cam gopro screen recording screenshot untitled misc other folder
""".split())
_GENERIC_FOLDERS = _NOISE_WORDS | frozenset("customers clients projects jobs archive archives backup backups".split())
# An upper-case 'P' or a spelled-out prefix, so that 'p01' (part 1) does not count.
_PROJECT_CODE = re.compile(r"(?<![A-Za-z0-9])(?:P|(?i:prj|proj|project|job))[-_]?\d{2,6}(?!\d)")

# (pattern, order of the groups, confidence when found in the file name); separators make a date
# unambiguous, a bare 8-digit run could also be a counter.
_DATE_PATTERNS = (
    (re.compile(r"(?<!\d)(\d{4})[-_.](\d{2})[-_.](\d{2})(?!\d)"), "ymd", 0.8),
    (re.compile(r"(?<!\d)(\d{2})\.(\d{2})\.(\d{4})(?!\d)"), "dmy", 0.75),
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"), "ymd", 0.7),
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[_T-]\d{6}(?!\d)"), "ymd", 0.75),
)
PATH_CONFIDENCE_FACTOR = 0.75  # a date on a folder names the batch, not always the recording


@dataclass(frozen=True)
class DateFinding:
    """A calendar date read from text, where it came from and how much to trust it."""

    date: str
    source: str
    confidence: float


def topic_words(path_words: tuple[str, ...] | list[str], limit: int = 15) -> list[str]:
    """Lower-case content words from the path, without numbers, camera prefixes and duplicates."""
    words: list[str] = []
    for raw in path_words:
        for word in re.split(r"[^\w]+|_", raw.lower()):
            if len(word) < 3 or word in _GENERIC_FOLDERS or not re.search(r"[a-z]", word) or word in words:
                continue
            if re.fullmatch(r"[a-z]*\d+[a-z]*\d*", word) and sum(c.isdigit() for c in word) > 2:
                continue  # 'dsc0042', 'c0012': counters, not topics
            words.append(word)
    return words[:limit]


def find_dates(name: str, folder: str) -> list[DateFinding]:
    """Valid dates in the file name (source 'filename') then the folder (source 'path'), best first."""
    findings = [*_dates_in(name, "filename", 1.0), *_dates_in(folder, "path", PATH_CONFIDENCE_FACTOR)]
    unique: dict[str, DateFinding] = {}
    for finding in findings:
        unique.setdefault(finding.date, finding)
    return list(unique.values())


def _dates_in(text: str, source: str, factor: float) -> list[DateFinding]:
    """Every valid date in text, strongest pattern first."""
    found = []
    for pattern, order, confidence in sorted(_DATE_PATTERNS, key=lambda p: -p[2]):
        for match in pattern.finditer(text):
            a, b, c = (int(g) for g in match.groups())
            year, month, day = (a, b, c) if order == "ymd" else (c, b, a)
            if not MIN_YEAR <= year <= MAX_YEAR:
                continue
            try:
                iso = date(year, month, day).isoformat()
            except ValueError:
                continue
            found.append(DateFinding(iso, source, round(confidence * factor, 2)))
    return found


def guess_project(folder: str) -> str | None:
    """The first folder name that has letters and is not a generic storage word."""
    for part in re.split(r"[/\\]+", folder):
        cleaned = part.strip()
        if not re.search(r"[A-Za-z]", cleaned):
            continue
        if re.sub(r"[^a-z]", "", cleaned.lower()) in _GENERIC_FOLDERS:
            continue
        return cleaned
    return None


def find_project_code(name: str, folder: str) -> str | None:
    """A token like 'P-1234' or 'JOB_0815' in the folder or name."""
    match = _PROJECT_CODE.search(f"{folder}/{name}")
    return match.group(0) if match else None
