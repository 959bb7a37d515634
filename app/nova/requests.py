"""Nova messages-v1 request bodies (InvokeModel body and batch modelInput)."""
from __future__ import annotations

import base64
import logging
from pathlib import PurePosixPath

from app.nova.prompts import SYSTEM_PROMPT, FileContext, build_prompt, inference_config

log = logging.getLogger(__name__)

# Nova's VideoFormat enum (docs/bedrock-facts.md §2 Media input); 3GP must be sent as "three_gp".
VIDEO_FORMATS = ("mkv", "mov", "mp4", "webm", "three_gp", "flv", "mpeg", "mpg", "wmv")
IMAGE_FORMATS = ("jpeg", "png", "gif", "webp")
DEFAULT_VIDEO_FORMAT = "mp4"
# Inline (base64) payloads must stay within 25 MB including the base64 overhead (docs/bedrock-facts.md §2).
INLINE_PAYLOAD_LIMIT = 25 * 1000 * 1000

_VIDEO_ALIASES = {
    "mp4": "mp4", "m4v": "mp4", "mov": "mov", "qt": "mov", "quicktime": "mov",
    "mkv": "mkv", "matroska": "mkv", "webm": "webm", "3gp": "three_gp", "3g2": "three_gp",
    "three_gp": "three_gp", "flv": "flv", "mpeg": "mpeg", "mpg": "mpg", "wmv": "wmv", "asf": "wmv",
}
_IMAGE_ALIASES = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png", "gif": "gif", "webp": "webp"}


def video_format(container_or_ext: str | None) -> str:
    """Nova's video format for a container name, extension or file name (mp4 when unknown)."""
    text = (container_or_ext or "").strip().lower()
    if "/" in text or (text.count(".") and not text.startswith(".")):
        text = PurePosixPath(text).suffix  # a file name or key: use its extension
    names = [part.strip().lstrip(".") for part in text.split(",")]
    # PyAV reports ISO-BMFF files as "mov,mp4,m4a,3gp,3g2,mj2" and Matroska as "matroska,webm".
    if "mp4" in names:
        return "mp4"
    for name in names:
        if name in _VIDEO_ALIASES:
            return _VIDEO_ALIASES[name]
    log.warning("Video format %r is not one Nova lists; sending it as %s", container_or_ext, DEFAULT_VIDEO_FORMAT)
    return DEFAULT_VIDEO_FORMAT


def video_media_s3(uri: str, container_or_ext: str | None) -> dict:
    """A video content block read by Bedrock from S3."""
    _check_s3_uri(uri)
    return {"video": {"format": video_format(container_or_ext), "source": {"s3Location": {"uri": uri}}}}


def image_format(data: bytes) -> str:
    """The image format from its magic bytes; ValueError when it is not one Nova accepts."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ValueError("Image is not JPEG, PNG, GIF or WebP (the formats Nova accepts)")


def image_media_bytes(data: bytes) -> dict:
    """An image content block with the bytes inline as base64 (InvokeModel wants a string)."""
    fmt = image_format(data)
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) > INLINE_PAYLOAD_LIMIT:
        raise ValueError(f"Image is too large to send inline ({len(data)} bytes); use an S3 location")
    return {"image": {"format": fmt, "source": {"bytes": encoded}}}


def image_media_s3(uri: str, fmt: str) -> dict:
    """An image content block read by Bedrock from S3."""
    _check_s3_uri(uri)
    name = (fmt or "").strip().lower().lstrip(".")
    if name not in _IMAGE_ALIASES:
        raise ValueError(f"Image format {fmt!r} is not one of {', '.join(IMAGE_FORMATS)}")
    return {"image": {"format": _IMAGE_ALIASES[name], "source": {"s3Location": {"uri": uri}}}}


def _check_s3_uri(uri: str) -> None:
    """Refuse anything but s3://bucket/key."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:] or uri.endswith("/"):
        raise ValueError(f"Expected an s3://bucket/key URI, not {uri!r}")


def build_request(analysis_type: str, ctx: FileContext, options: dict | None, *, media: dict,
                  max_output_tokens: int | None = None) -> dict:
    """The messages-v1 body: system prompt, one user turn with one media item then the prompt."""
    kinds = [k for k in ("video", "image") if k in media] if isinstance(media, dict) else []
    if len(kinds) != 1 or len(media) != 1:
        raise ValueError("media must be exactly one video or image content block")
    if kinds[0] != ctx.media_type:
        raise ValueError(f"media is {kinds[0]} but the file context says {ctx.media_type}")
    return {
        "schemaVersion": "messages-v1",
        "system": [{"text": SYSTEM_PROMPT}],
        "messages": [{"role": "user", "content": [media, {"text": build_prompt(analysis_type, ctx, options)}]}],
        "inferenceConfig": inference_config(analysis_type, max_output_tokens=max_output_tokens),
    }
