"""Validators of the labelling sections: waterfall classification and search metadata."""
from __future__ import annotations

import math
from typing import Any

from app.nova.cleaning import single_line
from app.nova.contract import (
    CONTENT_TYPES, DATE_SOURCES, MAX_LINE, SKILL_LEVELS, WATERFALL_DIMENSIONS, WATERFALL_MIN_CONFIDENCE,
    WATERFALL_VOCAB,
)
from app.nova.values import (
    Run, as_dict, choice, is_scalar, named_items, optional_line, parse_confidence, parse_date, str_list,
)


def waterfall_section(data: dict, run: Run) -> dict:
    """The four-dimension classification with vocabularies and the 0.70 threshold enforced."""
    raw_conf = data.get("confidence")
    if isinstance(raw_conf, dict):
        conf_of = lambda dim: parse_confidence(raw_conf.get(dim))  # noqa: E731
    else:
        single = parse_confidence(raw_conf)
        if single is not None:
            run.warn("one confidence given for all dimensions")
        conf_of = lambda dim: single  # noqa: E731
    given_reasons = as_dict(data.get("unknown_reasons"))
    result: dict[str, Any] = {}
    confidence: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for dim, allowed in WATERFALL_VOCAB.items():
        raw = data.get(dim)
        value = choice(raw, allowed)
        conf = conf_of(dim)
        shown = single_line(raw, 80) if is_scalar(raw) else ""
        reason = None  # the model's own reason, read only where it is used
        if not shown:
            value, conf = "Unknown", 0.0
            reason = optional_line(given_reasons.get(dim), MAX_LINE) or "not provided by the model"
        elif value is None:
            value, conf = "Unknown", 0.0
            reason = f"model answered '{shown}', which is not an allowed value"
            run.warn(f"{dim} '{shown}' is not in the vocabulary")
        elif value != "Unknown" and (conf is None or conf < WATERFALL_MIN_CONFIDENCE):
            reason = (f"confidence {conf:.2f} is below {WATERFALL_MIN_CONFIDENCE:.2f} (model answered '{value}')"
                      if conf is not None else f"no confidence given (model answered '{value}')")
            value = "Unknown"
        elif value == "Unknown":
            reason = optional_line(given_reasons.get(dim), MAX_LINE) or "not determined"
        result[dim] = value
        confidence[dim] = conf if conf is not None else 0.0
        if value == "Unknown":
            reasons[dim] = reason
    confidence["overall"] = min(confidence[dim] for dim in WATERFALL_DIMENSIONS)
    content_type = choice(data.get("content_type"), CONTENT_TYPES)
    skill_level = choice(data.get("skill_level"), SKILL_LEVELS)
    result.update({
        "confidence": confidence,
        "evidence": str_list(data.get("evidence"), 20, 500),
        "unknown_reasons": reasons,
        "search_tags": str_list(data.get("search_tags"), 20, 100),
        "product_keywords": str_list(data.get("product_keywords"), 20, 100),
        "content_type": content_type or "other",
        "skill_level": skill_level or "unknown",
    })
    return result


def _gps(value: Any, run: Run) -> dict | None:
    """Latitude/longitude within range; the (0, 0) placeholder copied from examples counts as unknown."""
    if isinstance(value, dict):
        lat, lon = value.get("latitude", value.get("lat")), value.get("longitude", value.get("lon"))
    elif isinstance(value, list) and len(value) == 2:
        lat, lon = value
    elif isinstance(value, str) and "," in value:
        lat, lon = value.split(",", 1)
    else:
        return None
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        run.warn("gps out of range dropped")
        return None
    if lat == 0 and lon == 0:
        return None
    return {"latitude": round(lat, 6), "longitude": round(lon, 6)}


def metadata_section(data: dict, run: Run) -> dict:
    """Search metadata: recording date with its source, project, location, camera, entities, keywords."""
    raw_date = data.get("recording_date")
    rec = raw_date if isinstance(raw_date, dict) else {"date": raw_date}
    when = parse_date(rec.get("date"))
    if rec.get("date") not in (None, "") and when is None:
        run.warn("recording date is not a valid YYYY-MM-DD date")
    source = choice(rec.get("source", rec.get("date_source")), DATE_SOURCES) or "unknown"
    recording_date = ({"date": when, "source": source, "confidence": parse_confidence(rec.get("confidence"))}
                      if when else {"date": None, "source": "unknown", "confidence": 0.0})
    project = as_dict(data.get("project"))
    location = as_dict(data.get("location"))

    def entity(item: dict, value: str) -> dict:
        return {"type": optional_line(item.get("type", item.get("entity_type")), 50) or "other", "value": value,
                "confidence": parse_confidence(item.get("confidence"))}

    return {
        "recording_date": recording_date,
        "project": {"name": optional_line(project.get("name", project.get("project_name")), 200),
                    "customer": optional_line(project.get("customer", project.get("customer_name")), 200),
                    "code": optional_line(project.get("code", project.get("project_code")), 100)},
        "location": {"name": optional_line(location.get("name", location.get("site_name")), 200),
                     "city": optional_line(location.get("city"), 100),
                     "region": optional_line(location.get("region", location.get("state_region")), 100),
                     "country": optional_line(location.get("country"), 100),
                     "gps": _gps(location.get("gps", location.get("gps_coordinates")), run)},
        "camera": optional_line(data.get("camera"), 200),
        "entities": named_items(data.get("entities"), ("value", "entity"), entity),
        "keywords": str_list(data.get("keywords"), 30, 100),
    }
