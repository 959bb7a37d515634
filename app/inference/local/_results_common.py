"""Result pieces shared by video and image answers: classification, metadata, wording."""
from __future__ import annotations

from app.inference.local._path_facts import DateFinding, find_dates, find_project_code, guess_project, topic_words
from app.inference.local._prompt_header import PromptHeader

LOCAL_PREFIX = "Local analysis (not Nova): "
CANNOT_CLASSIFY = ("The local analyser cannot recognise waterfall products; it only measures brightness, "
                   "colour and motion.")
NOT_RECOGNISED = "No objects, people, text or speech were recognised: the local analyser does not do that."
PROJECT_CONFIDENCE = 0.3
EXIF_DATE_CONFIDENCE = 0.7
CONTAINER_DATE_CONFIDENCE = 0.5
_ENGLISH = {"auto", "en", "eng", "english", "en-us", "en-gb", "en_us", "en_gb"}
_PRODUCT_WORDS = frozenset("""
    waterfall waterfalls grotto grottos slide slides genesis custom natural stone formal classic deluxe ultimate
    tier tiers split cantilever rock rocks boulder boulders pool pools spa
""".split())


def clock(seconds: float) -> str:
    """Seconds as 'm:ss', or 'h:mm:ss' from one hour on."""
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def and_join(items: list[str]) -> str:
    """'a', 'a and b' or 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def language_note(header: PromptHeader) -> str | None:
    """A sentence saying the text stays English when another language was asked for."""
    if header.language.strip().lower() in _ENGLISH:
        return None
    return f"Requested language '{header.language}' is not available offline; this text is in English."


def path_topics(header: PromptHeader) -> list[str]:
    """Content words of the file's folder and name."""
    return topic_words(header.path_words or (header.folder, header.name))


def waterfall_classification(header: PromptHeader) -> dict:
    """All four dimensions Unknown: nothing here can recognise a product."""
    words = path_topics(header)
    product_words = [word for word in words if word in _PRODUCT_WORDS]
    reason = CANNOT_CLASSIFY
    if product_words:
        reason += f" The path mentions {', '.join(product_words)}, which is not evidence from the media."
    dimensions = ("family", "tier_level", "functional_type", "sub_type")
    return {
        **{dimension: "Unknown" for dimension in dimensions},
        "confidence": {**{dimension: 0.0 for dimension in dimensions}, "overall": 0.0},
        "evidence": [],
        "unknown_reasons": {dimension: reason for dimension in dimensions},
        "search_tags": words,
        "product_keywords": product_words,
        "content_type": "other",
        "skill_level": "unknown",
    }


def metadata(header: PromptHeader, *, keywords: list[str], exif_date: str | None = None,
             container_date: str | None = None, camera: str | None = None,
             gps: tuple[float, float] | None = None) -> dict:
    """search_metadata/metadata: dates from the name, folder, EXIF or container; project from the folder."""
    findings = find_dates(header.name, header.folder)
    if exif_date:
        findings.append(DateFinding(exif_date[:10], "exif", EXIF_DATE_CONFIDENCE))
    if container_date:
        findings.append(DateFinding(container_date[:10], "container", CONTAINER_DATE_CONFIDENCE))
    # Highest confidence wins; on a tie the earlier source (file name, folder, EXIF, container) does.
    best = max(findings, key=lambda f: f.confidence) if findings else None
    project = guess_project(header.folder)
    code = find_project_code(header.name, header.folder)
    entities = [{"type": "date", "value": f.date, "confidence": f.confidence} for f in _distinct(findings)]
    if project:
        entities.append({"type": "project", "value": project, "confidence": PROJECT_CONFIDENCE})
    if code:
        entities.append({"type": "project_code", "value": code, "confidence": PROJECT_CONFIDENCE})
    return {
        "recording_date": ({"date": best.date, "source": best.source, "confidence": best.confidence} if best
                           else {"date": None, "source": "unknown", "confidence": 0.0}),
        "project": {"name": project, "customer": None, "code": code},
        "location": {"name": None, "city": None, "region": None, "country": None,
                     "gps": {"latitude": gps[0], "longitude": gps[1]} if gps else None},
        "camera": camera,
        "entities": entities,
        "keywords": _unique([*path_topics(header), *keywords]),
    }


def _distinct(findings: list[DateFinding]) -> list[DateFinding]:
    """The first finding of each date."""
    seen: dict[str, DateFinding] = {}
    for finding in findings:
        seen.setdefault(finding.date, finding)
    return list(seen.values())


def _unique(words: list[str]) -> list[str]:
    """words without repeats, in first-seen order."""
    return list(dict.fromkeys(word for word in words if word))
