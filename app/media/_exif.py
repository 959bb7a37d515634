"""Capture date, GPS position and camera from EXIF, tolerant of the junk real cameras write."""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime

from PIL import Image

log = logging.getLogger(__name__)

_IFD_EXIF = 0x8769
_IFD_GPS = 0x8825
_MAKE, _MODEL, _DATETIME = 0x010F, 0x0110, 0x0132
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x9003, 0x9004
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_EXIF_DATE = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


@dataclass(frozen=True)
class ExifMeta:
    """The EXIF fields the library shows and searches by."""

    created_at: str | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    camera: str | None = None


def read_exif_meta(im: Image.Image) -> ExifMeta:
    """Pull date, GPS and camera from an image's EXIF; missing or broken parts come back as None."""
    try:
        exif = im.getexif()
        sub = exif.get_ifd(_IFD_EXIF)
        gps = exif.get_ifd(_IFD_GPS)
    except Exception:  # noqa: BLE001 - a broken EXIF block only costs us the metadata
        log.debug("unreadable EXIF", exc_info=True)
        return ExifMeta()
    raw_date = sub.get(_DATETIME_ORIGINAL) or sub.get(_DATETIME_DIGITIZED) or exif.get(_DATETIME)
    lat = _degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), limit=90)
    lon = _degrees(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), limit=180)
    if lat is None or lon is None or (lat == 0 and lon == 0):
        # Cameras without a fix often write 0/0; a half position is no position.
        lat = lon = None
    return ExifMeta(parse_exif_date(raw_date), lat, lon, camera_name(exif.get(_MAKE), exif.get(_MODEL)))


def parse_exif_date(value: object) -> str | None:
    """'YYYY:MM:DD HH:MM:SS' (or similar) to ISO 'YYYY-MM-DDTHH:MM:SS'; None for blanks and zero dates."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATE.search(value)
    if not match:
        return None
    try:
        return datetime(*map(int, match.groups())).isoformat()
    except ValueError:
        return None


def camera_name(make: object, model: object) -> str | None:
    """'Make Model', without repeating the make when the model already starts with it."""
    make_s, model_s = _clean(make), _clean(model)
    if make_s and model_s and model_s.lower().startswith(make_s.lower()):
        return model_s
    return " ".join(p for p in (make_s, model_s) if p) or None


def _clean(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "ignore")
    return " ".join(str(value).replace("\x00", " ").split()) if value is not None else ""


def _degrees(dms: object, ref: object, *, limit: float) -> float | None:
    """Degrees/minutes/seconds triple plus N/S/E/W to signed decimal degrees."""
    try:
        parts = [float(x) for x in dms]  # type: ignore[union-attr]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not parts or len(parts) > 3:
        return None
    parts += [0.0] * (3 - len(parts))
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    if not math.isfinite(value) or value > limit:
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    if isinstance(ref, str) and ref.strip().upper()[:1] in ("S", "W"):
        value = -value
    return round(value, 7)
