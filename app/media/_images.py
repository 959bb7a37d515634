"""Pillow helpers: open by content, normalise modes, resize with EXIF orientation applied."""
from __future__ import annotations

import logging
import math
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ._sniff import is_heif, read_head
from .errors import MediaError

log = logging.getLogger(__name__)

# Formats we treat as photos; restricting Pillow stops exotic plugins (TGA, SPIDER...) claiming text files.
_ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "DIB", "TIFF", "AVIF", "HEIF")
# Orientations 5-8 turn the picture a quarter, swapping width and height.
_QUARTER_TURNS = {5, 6, 7, 8}
_WHITE = (255, 255, 255)


def _accepted_formats() -> list[str]:
    Image.init()
    return [f for f in _ACCEPTED_FORMATS if f in Image.OPEN]


def open_image(path: Path) -> Image.Image:
    """Open a still image by content or raise MediaError saying why not."""
    try:
        return Image.open(path, formats=_accepted_formats())
    except UnidentifiedImageError:
        if is_heif(read_head(path)):
            raise MediaError("unsupported format: HEIC decoder not available") from None
        raise MediaError("unsupported format") from None
    except Image.DecompressionBombError as exc:
        raise MediaError(f"image too large: {exc}") from None
    except OSError as exc:
        raise MediaError(f"cannot decode: {exc}") from None


def can_open(path: Path) -> bool:
    """True when Pillow recognises the file as one of the accepted still formats."""
    try:
        with Image.open(path, formats=_accepted_formats()):
            return True
    except (OSError, ValueError, Image.DecompressionBombError, UnidentifiedImageError):
        return False


def orientation_of(im: Image.Image) -> int | None:
    """EXIF orientation (1-8) or None when absent or nonsensical."""
    try:
        value = im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - malformed EXIF must not make a good image unreadable
        log.debug("unreadable EXIF in %s", getattr(im, "filename", "?"), exc_info=True)
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def display_size(im: Image.Image) -> tuple[int, int]:
    """Width and height as shown, i.e. after the EXIF orientation is applied."""
    w, h = im.size
    return (h, w) if orientation_of(im) in _QUARTER_TURNS else (w, h)


def load_upright(path: Path, needed: tuple[int, int] | None = None) -> Image.Image:
    """Decode the first frame with EXIF orientation applied; `needed` lets JPEG decode at a reduced scale."""
    with open_image(path) as im:
        try:
            if needed and im.format in ("JPEG", "MPO"):
                w, h = needed
                if orientation_of(im) in _QUARTER_TURNS:
                    w, h = h, w
                # draft() picks the largest DCT scale whose result is still at least this big: fast and sharp.
                im.draft(im.mode if im.mode in ("RGB", "L") else None, (w, h))
            im.load()
            # exif_transpose returns an in-memory copy, so the file can close with the context.
            return ImageOps.exif_transpose(im)
        except Image.DecompressionBombError as exc:
            raise MediaError(f"image too large: {exc}") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise MediaError(f"cannot decode: {exc}") from None


def has_transparency(im: Image.Image) -> bool:
    """True when some pixel is not fully opaque."""
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        alpha = im.convert("RGBA").getchannel("A")
        return alpha.getextrema()[0] < 255
    return False


def to_rgb(im: Image.Image) -> Image.Image:
    """RGB copy for JPEG output; transparency is flattened onto white, deep greys are scaled to 8 bits."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        wide = im.convert("I") if im.mode != "F" else im
        hi = wide.getextrema()[1] or 1
        # 16-bit scans would clip to white if converted directly.
        scale = 255 / hi if hi > 255 else 1
        return wide.point(lambda v: v * scale).convert("L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "P") and has_transparency(im):
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")


def scaled_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """Size multiplied by `factor`, rounded, never below 1 pixel."""
    w, h = size
    return max(1, round(w * factor)), max(1, round(h * factor))


def ceil_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """Size multiplied by `factor`, rounded up (for draft requests that must not undershoot)."""
    w, h = size
    return max(1, math.ceil(w * factor)), max(1, math.ceil(h * factor))
