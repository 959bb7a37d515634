"""JPEG thumbnails: the middle frame of a video, or an upright, shrunken image."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from . import _images, _video
from ._files import atomic_target, check_readable
from .errors import MediaError

__all__ = ["ThumbResult", "extract_frame_jpeg", "make_thumbnail"]

THUMBNAIL_QUALITY = 85
# PIL transposes that undo a counter-clockwise display rotation of the stored frames.
_UPRIGHT = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class ThumbResult:
    """A thumbnail that now exists on disk."""

    path: Path
    width: int
    height: int
    size_bytes: int


def make_thumbnail(src: Path, dest: Path, media_type: str, width: int = 320) -> ThumbResult:
    """JPEG `width` px wide (narrower sources keep their width): a video's middle frame or the image."""
    src, dest = Path(src), Path(dest)
    if media_type == "video":
        check_readable(src)
        with _video.open_input(src) as container:
            stream = _video.require_video_stream(container)
            duration = _video.duration_seconds(container, stream) or 0.0
        return extract_frame_jpeg(src, duration / 2, dest, width)
    if media_type == "image":
        return _image_thumbnail(src, dest, width)
    raise ValueError(f"unknown media type: {media_type!r}")


def extract_frame_jpeg(src: Path, at_seconds: float, dest: Path, width: int = 320) -> ThumbResult:
    """JPEG of the frame shown at `at_seconds` (clamped to the video), upright, `width` px wide at most."""
    src, dest = Path(src), Path(dest)
    check_readable(src)
    with _video.open_input(src) as container:
        stream = _video.require_video_stream(container)
        frame = _video.frame_near(container, stream, max(0.0, float(at_seconds)))
        rotation = _video.rotation_of(frame)
        shown_w, shown_h = _video.display_size(stream, rotation)
        out_w = min(width, shown_w)
        out_h = max(1, round(shown_h * out_w / shown_w))
        stored = (out_h, out_w) if rotation in (90, 270) else (out_w, out_h)
        # AREA averages pixels, so a 4K frame shrunk to 320 px does not shimmer with aliasing.
        picture = frame.reformat(width=stored[0], height=stored[1], format="rgb24",
                                 interpolation="AREA").to_image()
    if rotation in _UPRIGHT:
        picture = picture.transpose(_UPRIGHT[rotation])
    return _save_jpeg(picture, dest)


def _image_thumbnail(src: Path, dest: Path, width: int) -> ThumbResult:
    check_readable(src)
    with _images.open_image(src) as header:
        shown = _images.display_size(header)
    factor = min(1.0, width / shown[0])
    im = _images.load_upright(src, needed=_images.ceil_size(shown, factor))
    picture = _images.to_rgb(im)
    target = _images.scaled_size(shown, factor)
    if picture.size != target:
        picture = picture.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _save_jpeg(picture, dest)


def _save_jpeg(picture: Image.Image, dest: Path) -> ThumbResult:
    with atomic_target(dest) as tmp:
        try:
            picture.save(tmp, format="JPEG", quality=THUMBNAIL_QUALITY)
        except (OSError, ValueError) as exc:
            raise MediaError(f"cannot write thumbnail: {exc}") from None
    return ThumbResult(dest, picture.width, picture.height, dest.stat().st_size)
