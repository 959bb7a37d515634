"""Identify a media file by its content and read what the library shows about it."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import av

from . import _exif, _images, _video, _video_meta
from ._files import check_readable
from ._sniff import guess_kind, is_heif, read_head
from .errors import MediaError

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "MediaError", "MediaInfo", "probe_file",
           "sniff_media_type"]

VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "mkv", "webm", "avi", "wmv", "flv", "mpg", "mpeg", "3gp"})
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "bmp", "tiff", "tif", "heic"})

MediaType = Literal["video", "image"]
# What Pillow raises for pixel data it cannot read (truncated, corrupt, unsupported compression).
_PIL_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError)


@dataclass(frozen=True)
class MediaInfo:
    """What probing a file found; sizes are as displayed (rotation and EXIF orientation applied)."""

    media_type: MediaType
    mime_type: str
    container: str
    width: int
    height: int
    created_at: str | None
    created_source: Literal["exif", "container", "mtime"]
    duration_seconds: float | None = None
    fps: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    bitrate: int | None = None
    audio_channels: int | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    camera: str | None = None
    # The EXIF orientation tag (1-8) of images; videos report their turn in `rotation` instead.
    orientation: int | None = None
    # Counter-clockwise degrees a player turns the stored video frames by (0 for images).
    rotation: int = 0


def sniff_media_type(path: Path | str) -> MediaType | None:
    """'video', 'image' or None, decided from the bytes; the file name is never consulted."""
    path = Path(path)
    try:
        head = read_head(path)
    except OSError:
        return None
    if not head:
        return None
    kind = guess_kind(head)
    if kind == "image" and is_heif(head):
        return "image"
    if kind != "video" and _images.can_open(path):
        return "image"
    if kind != "image" and _has_video_stream(path, trusted=kind == "video"):
        return "video"
    return None


def probe_file(path: Path | str) -> MediaInfo:
    """Probe a video or image; raises MediaError with a human reason when it is neither or is broken."""
    path = Path(path)
    check_readable(path)
    kind = sniff_media_type(path)
    if kind == "image":
        return _probe_image(path)
    if kind == "video":
        return _probe_video(path)
    # Give the most specific reason we can: a broken photo, a broken movie, or an audio-only file.
    hint = guess_kind(read_head(path))
    if hint == "image":
        _images.open_image(path).close()
    elif hint == "video":
        with _video.open_input(path) as container:
            _video.require_video_stream(container)
    raise MediaError("unsupported format")


def _has_video_stream(path: Path, *, trusted: bool) -> bool:
    try:
        with av.open(str(path), mode="r", metadata_errors="replace") as container:
            if not trusted and _video.format_name(container) in _video.NOT_VIDEO_FORMATS:
                return False
            return _video.video_stream(container) is not None
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        return False


def _mtime_iso(path: Path) -> str:
    return datetime.fromtimestamp(os.stat(path).st_mtime).replace(microsecond=0).isoformat()


def _probe_image(path: Path) -> MediaInfo:
    im = _images.open_image(path)
    with im:
        fmt = im.format or "unknown"
        mime = im.get_format_mimetype() or f"image/{fmt.lower()}"
        if fmt == "MPO":
            # Multi-picture JPEGs from 3D/dual cameras: the first picture is an ordinary JPEG.
            fmt, mime = "JPEG", "image/jpeg"
        orientation = _images.orientation_of(im)
        width, height = _images.display_size(im)
        meta = _exif.read_exif_meta(im)
        try:
            # Reduced-scale decode for JPEG: proves the data is readable without paying for full size.
            im.draft(None, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
        except _PIL_DECODE_ERRORS as exc:
            raise MediaError(f"cannot decode: {exc}") from None
    created, source = (meta.created_at, "exif") if meta.created_at else (_mtime_iso(path), "mtime")
    return MediaInfo(
        media_type="image", mime_type=mime, container=fmt.lower(), width=width, height=height,
        created_at=created, created_source=source, gps_latitude=meta.gps_latitude,
        gps_longitude=meta.gps_longitude, camera=meta.camera, orientation=orientation,
    )


def _probe_video(path: Path) -> MediaInfo:
    head = read_head(path)
    with _video.open_input(path) as container:
        stream = _video.require_video_stream(container)
        audio = _video.richest_audio_stream(container)
        name = _video_meta.container_name(container, head)
        duration = _video.duration_seconds(container, stream)
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        bitrate = container.bit_rate or None
        created = _video_meta.created_at(container)
        lat, lon = _video_meta.location(container)
        camera = _exif.camera_name(*_video_meta.camera_tags(container))
        video_codec = stream.codec.canonical_name
        rotation = _video.rotation_of(_video.first_frame(container, stream))
        width, height = _video.display_size(stream, rotation)
    created, source = (created, "container") if created else (_mtime_iso(path), "mtime")
    return MediaInfo(
        media_type="video", mime_type=_video_meta.container_mime(name), container=name,
        width=width, height=height, created_at=created, created_source=source,
        duration_seconds=round(duration, 3) if duration else None, fps=round(float(fps), 3) if fps else None,
        video_codec=video_codec, audio_codec=audio.codec.canonical_name if audio else None,
        bitrate=bitrate, audio_channels=audio.codec_context.channels if audio else None,
        gps_latitude=lat, gps_longitude=lon, camera=camera, rotation=rotation,
    )

