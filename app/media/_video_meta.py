"""Creation date, location, camera and container naming from video container tags."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from av.container import InputContainer

# Apple's local-time tag is the moment of capture; 'creation_time' is UTC and sometimes the export time.
_DATE_TAGS = ("com.apple.quicktime.creationdate", "creation_time", "date")
_LOCATION_TAGS = ("com.apple.quicktime.location.iso6709", "location", "location-eng")
_MAKE_TAGS = ("com.apple.quicktime.make", "com.android.manufacturer", "make")
_MODEL_TAGS = ("com.apple.quicktime.model", "com.android.model", "model")
_ISO6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")
# Zero timestamps (1904/1970 epochs) mean "not set", not a real date.
_EARLIEST_YEAR = 1971

_CONTAINER_MIME = {
    "mp4": "video/mp4", "mov": "video/quicktime", "3gp": "video/3gpp", "m4v": "video/x-m4v",
    "matroska": "video/x-matroska", "webm": "video/webm", "avi": "video/x-msvideo",
    "asf": "video/x-ms-wmv", "flv": "video/x-flv", "mpeg": "video/mpeg", "mpegts": "video/mp2t",
    "ogg": "video/ogg",
}


def _tags(container: InputContainer) -> dict[str, str]:
    """Container tags overlaid on stream tags, keys lower-cased."""
    merged: dict[str, str] = {}
    for stream in container.streams:
        merged.update({k.lower(): v for k, v in stream.metadata.items()})
    merged.update({k.lower(): v for k, v in container.metadata.items()})
    return merged


def container_name(container: InputContainer, head: bytes) -> str:
    """Friendly container name: mp4/mov/3gp told apart by brand, webm by EBML doctype."""
    names = container.format.name.split(",")
    if names[0] == "mov":
        brand = head[8:12] if head[4:8] == b"ftyp" else b"qt  "
        if brand == b"qt  ":
            return "mov"
        if brand.startswith((b"3gp", b"3g2")):
            return "3gp"
        return "m4v" if brand == b"M4V " else "mp4"
    if names[0] == "matroska":
        return "webm" if b"webm" in head else "matroska"
    return names[0]


def container_mime(name: str) -> str:
    """MIME type for a container name from `container_name`."""
    return _CONTAINER_MIME.get(name, f"video/{name}")


def created_at(container: InputContainer) -> str | None:
    """Capture date as naive ISO 'YYYY-MM-DDTHH:MM:SS', or None."""
    tags = _tags(container)
    for key in _DATE_TAGS:
        value = tags.get(key)
        if not value:
            continue
        parsed = _parse_iso(value.strip(), keep_local=key.startswith("com.apple"))
        if parsed:
            return parsed
    return None


def _parse_iso(value: str, *, keep_local: bool) -> str | None:
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        try:
            moment = datetime.strptime(value[:24], "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    if moment.tzinfo is not None and not keep_local:
        moment = moment.astimezone(timezone.utc)
    if moment.year < _EARLIEST_YEAR:
        return None
    return moment.replace(tzinfo=None, microsecond=0).isoformat()


def location(container: InputContainer) -> tuple[float | None, float | None]:
    """Latitude/longitude from an ISO 6709 tag such as '+37.7858-122.4064+012.3/'."""
    tags = _tags(container)
    for key in _LOCATION_TAGS:
        match = _ISO6709.match(tags.get(key, "").strip())
        if match:
            lat, lon = float(match.group(1)), float(match.group(2))
            if abs(lat) <= 90 and abs(lon) <= 180 and (lat, lon) != (0.0, 0.0):
                return lat, lon
    return None, None


def camera_tags(container: InputContainer) -> tuple[str | None, str | None]:
    """Make and model tags that phones write into their videos."""
    tags = _tags(container)
    make = next((tags[k] for k in _MAKE_TAGS if tags.get(k)), None)
    model = next((tags[k] for k in _MODEL_TAGS if tags.get(k)), None)
    return make, model
