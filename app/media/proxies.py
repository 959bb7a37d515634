"""Small, uniform copies of media for the browser and for Nova: H.264 MP4 videos, JPEG/PNG images."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from . import _images, _transcode
from ._files import atomic_target, check_readable
from .errors import MediaError, ProxyCancelled

__all__ = ["IMAGE_PROXY_SPEC", "VIDEO_PROXY_SPEC", "MediaError", "ProxyCancelled", "ProxyResult",
           "make_image_proxy", "make_video_proxy"]

log = logging.getLogger(__name__)

VIDEO_PROXY_SPEC = "h264-720p-15fps-aac"
IMAGE_PROXY_SPEC = "jpeg85-896"
IMAGE_PROXY_SHORT_SIDE = 896
IMAGE_PROXY_QUALITY = 85


@dataclass(frozen=True)
class ProxyResult:
    """A proxy that now exists on disk."""

    path: Path
    width: int
    height: int
    size_bytes: int
    duration_seconds: float | None
    spec: str


def video_proxy_spec(max_height: int = 720, fps: int = 15) -> str:
    """The spec string for proxies made with these settings (VIDEO_PROXY_SPEC for the defaults)."""
    return f"h264-{max_height}p-{fps}fps-aac"


def make_video_proxy(src: Path, dest: Path, *, max_height: int = 720, fps: int = 15,
                     progress: Callable[[float], None] | None = None,
                     should_cancel: Callable[[], bool] | None = None) -> ProxyResult:
    """Transcode `src` to an MP4 at `dest` (H.264 yuv420p, AAC, faststart), atomically.

    The frame rate is constant: the source's average rate, at most `fps` (_transcode.proxy_rate). The spec
    keeps naming the ceiling, which is what a proxy made with these settings promises.
    """
    src, dest = Path(src), Path(dest)
    check_readable(src)
    settings = _transcode.TranscodeSettings(max_height=max_height, fps=fps)
    with atomic_target(dest) as tmp:
        outcome = _transcode.transcode(src, tmp, settings, progress=progress, should_cancel=should_cancel)
    log.info("video proxy %s -> %s (%dx%d)", src.name, dest, outcome.width, outcome.height)
    return ProxyResult(dest, outcome.width, outcome.height, dest.stat().st_size,
                       outcome.duration_seconds, video_proxy_spec(max_height, fps))


def make_image_proxy(src: Path, dest_stem: Path) -> ProxyResult:
    """Upright copy with the shorter side at most 896 px: JPEG q85, or PNG when it has transparency."""
    src, dest_stem = Path(src), Path(dest_stem)
    check_readable(src)
    with _images.open_image(src) as header:
        shown = _images.display_size(header)
    factor = min(1.0, IMAGE_PROXY_SHORT_SIDE / min(shown))
    target = _images.scaled_size(shown, factor)
    im = _images.load_upright(src, needed=_images.ceil_size(shown, factor))
    if _images.has_transparency(im):
        picture, fmt, suffix, options = im.convert("RGBA"), "PNG", ".png", {}
    else:
        picture, fmt, suffix = _images.to_rgb(im), "JPEG", ".jpg"
        options = {"quality": IMAGE_PROXY_QUALITY}
    if picture.size != target:
        picture = picture.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    # Append rather than with_suffix: stems such as 'abc.v2' must keep their dots.
    dest = dest_stem.with_name(dest_stem.name + suffix)
    with atomic_target(dest) as tmp:
        try:
            picture.save(tmp, format=fmt, **options)
        except (OSError, ValueError) as exc:
            raise MediaError(f"cannot encode proxy: {exc}") from None
    return ProxyResult(dest, picture.width, picture.height, dest.stat().st_size, None, IMAGE_PROXY_SPEC)
