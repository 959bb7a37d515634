"""PyAV helpers shared by probing, proxies and thumbnails."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from .errors import MediaError

log = logging.getLogger(__name__)

# Demuxers that ffmpeg may pick for arbitrary bytes: their "video" is rendered text or a single picture.
NOT_VIDEO_FORMATS = {"tty", "bin", "xbin", "idf", "adf", "image2", "image2pipe", "lavfi",
                     "apng", "gif", "webp_pipe", "ico"}
# Stop looking for a decodable frame after this many packets, so garbage cannot keep us busy.
MAX_PACKETS_FOR_FIRST_FRAME = 600


def av_reason(exc: BaseException) -> str:
    """A short, path-free description of a PyAV/FFmpeg error."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().rstrip(".").lower()


def open_input(path: Path) -> InputContainer:
    """Open a container for reading or raise MediaError with the decoder's reason."""
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as exc:
        raise MediaError(f"cannot decode: {av_reason(exc)}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"cannot decode: {exc}") from None


def video_stream(container: InputContainer) -> VideoStream | None:
    """The main video stream, ignoring cover art attached to audio files."""
    candidates = [s for s in container.streams.video
                  if s.codec_context is not None and s.codec_context.width > 0
                  and not (s.disposition & Disposition.attached_pic)]
    if not candidates:
        return None
    # Several video tracks are rare (multi-angle, previews); the largest is the real picture.
    return max(candidates, key=lambda s: (s.codec_context.width * s.codec_context.height, -s.index))


def require_video_stream(container: InputContainer) -> VideoStream:
    """The main video stream or MediaError('not a video: no video stream')."""
    stream = video_stream(container)
    if stream is None:
        raise MediaError("not a video: no video stream")
    return stream


def richest_audio_stream(container: InputContainer) -> av.AudioStream | None:
    """The audio stream with the most channels (the full mix rather than a commentary or mono track)."""
    # Streams without a decoder (codec_context None) cannot be re-encoded, so they do not count.
    streams = [s for s in container.streams.audio if s.codec_context is not None and s.codec_context.channels > 0]
    if not streams:
        return None
    return max(streams, key=lambda s: (s.codec_context.channels, -s.index))


def format_name(container: InputContainer) -> str:
    """Short demuxer name, e.g. 'mov' for 'mov,mp4,m4a,3gp,3g2,mj2'."""
    return container.format.name.split(",")[0]


def decode_frames(container: InputContainer, stream: VideoStream, *,
                  max_bad_packets: int = MAX_PACKETS_FOR_FIRST_FRAME) -> Iterator[VideoFrame]:
    """Decoded frames of `stream`; stops quietly at the first unreadable packet after frames came out."""
    produced = False
    bad = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            if produced:
                log.warning("stopped reading %s: %s", container.name, av_reason(exc))
                return
            raise MediaError(f"cannot decode: {av_reason(exc)}") from None
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            bad += 1
            if not produced and bad >= max_bad_packets:
                raise MediaError(f"cannot decode: {av_reason(exc)}") from None
            continue
        if not frames and not produced:
            bad += 1
            if bad >= max_bad_packets:
                raise MediaError("cannot decode: no picture in the first packets")
        for frame in frames:
            produced = True
            yield frame


def first_frame(container: InputContainer, stream: VideoStream) -> VideoFrame:
    """The first decodable picture of the stream, or MediaError."""
    for frame in decode_frames(container, stream):
        return frame
    raise MediaError("cannot decode: no video frames")


def frame_near(container: InputContainer, stream: VideoStream, seconds: float) -> VideoFrame:
    """The first frame shown at or after `seconds` (the last frame when past the end)."""
    tb = stream.time_base
    start = stream.start_time or 0
    if seconds > 0 and tb:
        try:
            container.seek(start + int(seconds / tb), stream=stream, backward=True)
        except av.FFmpegError as exc:
            log.debug("seek failed in %s, decoding from the start: %s", container.name, av_reason(exc))
            container.seek(0)
    start_s = float(start * tb) if tb else 0.0
    last = None
    for frame in decode_frames(container, stream):
        last = frame
        if frame.time is None or frame.time - start_s >= seconds - 1e-3:
            return frame
    if last is None:
        raise MediaError("cannot decode: no video frames")
    return last


def rotation_of(frame: VideoFrame) -> int:
    """Counter-clockwise display rotation snapped to 0, 90, 180 or 270 degrees."""
    try:
        angle = frame.rotation or 0
    except (AttributeError, ValueError):
        return 0
    return int(round(angle / 90.0)) % 4 * 90


def display_size(stream: VideoStream, rotation: int) -> tuple[int, int]:
    """Width and height as a player shows them: pixel aspect ratio and rotation applied."""
    ctx = stream.codec_context
    w, h = ctx.width, ctx.height
    sar = stream.sample_aspect_ratio
    if sar and sar.numerator > 0 and sar != 1:
        w = max(1, round(w * sar))
    return (h, w) if rotation in (90, 270) else (w, h)


def duration_seconds(container: InputContainer, stream: VideoStream) -> float | None:
    """Container duration when known (it covers every stream), else the video stream's own."""
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None
