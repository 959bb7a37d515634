"""Measure one still image with Pillow: size, brightness, colours and its own EXIF."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image, UnidentifiedImageError

from app.inference.local import _pixels

STATS_BOX = (64, 64)  # enough pixels for colour statistics; JPEG draft mode decodes at this scale
_ROTATING_ORIENTATIONS = {5, 6, 7, 8}


class ImageDecodeFailed(Exception):
    """The data is not an image Pillow can read."""


@dataclass(frozen=True)
class ImageFacts:
    """What the analyser measured on one image."""

    width: int
    height: int
    format: str
    brightness: float
    dominant_colors: tuple[str, ...]
    colorfulness: float
    exif_date: str | None
    exif_camera: str | None
    exif_gps: tuple[float, float] | None

    @property
    def orientation(self) -> str:
        """'landscape', 'portrait' or 'square'."""
        if abs(self.width - self.height) <= 0.02 * max(self.width, self.height):
            return "square"
        return "landscape" if self.width > self.height else "portrait"


def extract_image_facts(source: Path | bytes) -> ImageFacts:
    """Open an image file or bytes and measure it; raises ImageDecodeFailed."""
    try:
        with Image.open(source if isinstance(source, Path) else io.BytesIO(source)) as image:
            width, height = image.size
            exif = image.getexif()
            if exif.get(ExifTags.Base.Orientation) in _ROTATING_ORIENTATIONS:
                width, height = height, width
            fmt = image.format or "unknown"
            image.draft("RGB", STATS_BOX)
            small = image.convert("RGB")
            small.thumbnail(STATS_BOX)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeFailed(f"not a readable image: {exc}") from exc
    rgb = small.tobytes()
    return ImageFacts(
        width=width, height=height, format=fmt.lower(),
        brightness=_pixels.luma(small), dominant_colors=tuple(_pixels.dominant_colors([rgb])),
        colorfulness=_pixels.colorfulness(rgb), exif_date=_exif_date(exif),
        exif_camera=_exif_camera(exif), exif_gps=_exif_gps(exif))


def _clean(value: object) -> str:
    """An EXIF text value without the NUL padding some cameras write."""
    return str(value).replace("\x00", "").strip() if value is not None else ""


def _exif_date(exif: Image.Exif) -> str | None:
    """DateTimeOriginal (else DateTime) as 'YYYY-MM-DD HH:MM:SS'."""
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    raw = _clean(sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime))
    if len(raw) >= 19 and raw[4] == ":" and raw[7] == ":":
        return f"{raw[:4]}-{raw[5:7]}-{raw[8:10]}{raw[10:19]}"
    return None


def _exif_camera(exif: Image.Exif) -> str | None:
    """Make and model, without repeating the make."""
    make = _clean(exif.get(ExifTags.Base.Make))
    model = _clean(exif.get(ExifTags.Base.Model))
    if make and model.lower().startswith(make.lower()):
        make = ""
    return " ".join(part for part in (make, model) if part) or None


def _exif_gps(exif: Image.Exif) -> tuple[float, float] | None:
    """Decimal latitude and longitude from the GPS IFD, or None."""
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    try:
        lat = _degrees(gps[ExifTags.GPS.GPSLatitude], gps.get(ExifTags.GPS.GPSLatitudeRef, "N"), "S")
        lon = _degrees(gps[ExifTags.GPS.GPSLongitude], gps.get(ExifTags.GPS.GPSLongitudeRef, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if (lat, lon) == (0.0, 0.0) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None  # (0, 0) is what phones write when they had no fix
    return (round(lat, 6), round(lon, 6))


def _degrees(dms: tuple, ref: object, negative: str) -> float:
    """Degrees, minutes, seconds (rationals) to signed decimal degrees."""
    degrees, minutes, seconds = (float(part) for part in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if _clean(ref).upper() == negative else value
