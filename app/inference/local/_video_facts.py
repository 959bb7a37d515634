"""Decode a video at about one frame per second and measure each sampled frame."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
from PIL import Image

from app.inference.local import _pixels

log = logging.getLogger(__name__)

THUMB_PIXELS = 576  # 32x18 for 16:9; enough for colour and motion statistics, cheap to convert
MAX_SAMPLES = 960  # Nova samples at most 960 frames; longer videos get a wider spacing
KEYFRAME_GAP_FACTOR = 1.5  # keyframes this close to the sample spacing are enough on their own
MIN_PLAUSIBLE_YEAR = 1990  # muxers write 1904/1970 epochs when they do not know the date
UNDECODED_TAIL_SECONDS = 2.0  # a shorter gap at the end is just the last sample interval
MAX_BAD_PACKETS = 1000  # beyond this the stream is garbage, not a damaged stretch
RAW_DURATION_SLACK = 0.5  # decoding this far past the stated duration means the duration was a guess


class DecodeFailed(Exception):
    """The file could not be opened as a video or no frame decoded."""


@dataclass(frozen=True)
class Sample:
    """Measurements of one sampled frame."""

    time: float
    luma: float
    rgb: tuple[float, float, float]
    hist: tuple[int, ...]
    thumb: bytes
    change: float | None  # mean abs difference to the previous sample's thumbnail


@dataclass(frozen=True)
class VideoFacts:
    """Everything the analyser knows about one video after a single decode."""

    duration: float  # of the container, which chapters cover and Nova bills
    decoded_until: float
    stream_end: float  # where the video stream says it ends; audio may run longer
    width: int
    height: int
    fps: float | None
    codec: str
    has_audio: bool
    audio_codec: str | None
    creation_date: str | None
    camera: str | None
    sample_interval: float
    keyframes_only: bool
    samples: tuple[Sample, ...] = field(repr=False)
    decode_error: str | None = None

    @property
    def missing_tail(self) -> bool:
        """True when the end of the video could not be decoded (truncated or broken file)."""
        return self.stream_end - self.decoded_until >= max(UNDECODED_TAIL_SECONDS, 2 * self.sample_interval)


def thumb_size(width: int, height: int) -> tuple[int, int]:
    """A thumbnail size of about THUMB_PIXELS that keeps the aspect ratio."""
    aspect = width / height if width > 0 and height > 0 else 16 / 9
    thumb_w = max(2, round(math.sqrt(THUMB_PIXELS * aspect)))
    return thumb_w, max(2, round(thumb_w / aspect))


def extract_video_facts(path: Path, *, frame_rate: float = 1.0) -> VideoFacts:
    """Decode path once and return per-sample facts; raises DecodeFailed if nothing decodes."""
    keyframe_gap = _median_keyframe_gap(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        info = _describe(container, stream, frame_rate, keyframe_gap)
        # Without a container duration the stream is raw and its frames carry no timestamps: frames are
        # then counted, so none may be skipped.
        skip = "NONKEY" if info["keyframes_only"] else "NONREF" if info["duration"] else "DEFAULT"
        samples, last_time, error = _sample_frames(container, stream, info["sample_interval"], skip)
    if not samples and info["keyframes_only"]:
        # Some streams flag keyframes the decoder will not honour; decode everything instead.
        info["keyframes_only"] = False
        with _open(path) as container:
            samples, last_time, error = _sample_frames(container, container.streams.video[0],
                                                       info["sample_interval"], "NONREF")
    if not samples:
        raise DecodeFailed(f"no frame of {path.name} could be decoded: {error or 'empty stream'}")
    frame_step = 1.0 / (info["fps"] or 25.0)
    # In keyframe mode the frames after the last keyframe exist but were skipped, not lost.
    decoded_until = last_time + (info["sample_interval"] if info["keyframes_only"] else frame_step)
    duration = info.pop("duration")
    if last_time + frame_step > duration + RAW_DURATION_SLACK:
        duration = last_time + frame_step  # raw streams only carry a bitrate guess of their duration
    stream_end = min(max(info.pop("stream_end") or duration, last_time + frame_step), duration)
    facts = VideoFacts(duration=round(duration, 3), decoded_until=round(min(decoded_until, stream_end), 3),
                       stream_end=round(stream_end, 3), samples=tuple(samples), decode_error=error, **info)
    if facts.missing_tail and not error:
        facts = replace(facts, decode_error=f"no frames after {last_time:.1f}s; the file looks truncated")
    if facts.decode_error:
        log.warning("video %s only partly decodable: %s", path.name, facts.decode_error)
    return facts


def _open(path: Path) -> av.container.InputContainer:
    """Open path as a container with a video stream, or raise DecodeFailed."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise DecodeFailed(f"cannot open {path.name} as a video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise DecodeFailed(f"{path.name} has no video stream")
    return container


def _describe(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
              frame_rate: float, keyframe_gap: float | None) -> dict:
    """Stream facts known before decoding, and how to sample it."""
    duration = _container_duration(container, stream)
    interval = 1.0 / frame_rate
    if duration:
        interval = max(interval, duration / MAX_SAMPLES)
    audio = container.streams.audio[0] if container.streams.audio else None
    rate = stream.average_rate or stream.guessed_rate
    stream_end = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
    return dict(
        duration=duration, stream_end=stream_end,
        width=stream.codec_context.width, height=stream.codec_context.height,
        fps=round(float(rate), 3) if rate else None, codec=stream.codec_context.name,
        has_audio=audio is not None, audio_codec=audio.codec_context.name if audio else None,
        creation_date=_creation_date(container.metadata), camera=_camera(container.metadata),
        sample_interval=interval,
        keyframes_only=keyframe_gap is not None and keyframe_gap <= interval * KEYFRAME_GAP_FACTOR)


def _sample_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                   interval: float, skip: str) -> tuple[list[Sample], float, str | None]:
    """Decode the stream and measure one frame per interval; returns samples, last time, error."""
    stream.thread_type = "AUTO"
    # Non-reference frames are never needed to decode others, so skipping them is free speed.
    stream.codec_context.skip_frame = skip
    # Deblocking only smooths block edges, which a 32x18 thumbnail averages away anyway.
    stream.codec_context.options = {"skip_loop_filter": "all"}
    size = thumb_size(stream.codec_context.width, stream.codec_context.height)
    frame_step = 1.0 / float(stream.average_rate or stream.guessed_rate or 1)
    samples: list[Sample] = []
    previous: Image.Image | None = None
    next_time = last_time = 0.0
    index = bad_packets = 0
    first_bad: float | None = None
    fatal = None
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except (av.error.InvalidDataError, av.error.UndefinedError):
                # A damaged packet spoils a few frames; the decoder resynchronises at the next keyframe.
                bad_packets += 1
                first_bad = last_time if first_bad is None else first_bad
                if bad_packets > MAX_BAD_PACKETS:
                    break
                continue
            for frame in frames:
                index += 1
                time = frame.time if frame.time is not None else (index - 1) * frame_step
                last_time = max(last_time, time)
                # Tolerate a frame a hair early so that keyframes at exact seconds are not skipped.
                if time + 1e-3 < next_time:
                    continue
                sample, previous = _measure(frame, time, previous, size)
                samples.append(sample)
                next_time = (math.floor(time / interval + 1e-6) + 1) * interval
    except (av.error.FFmpegError, ValueError, MemoryError) as exc:
        # The container itself is broken from here on: keep what was decoded.
        fatal = f"decoding stopped at {last_time:.1f}s: {type(exc).__name__}: {exc}"
    damaged = f"{bad_packets} damaged packet(s) skipped, the first at {first_bad:.1f}s" if bad_packets else None
    return samples, last_time, "; ".join(part for part in (damaged, fatal) if part) or None


def _measure(frame: av.VideoFrame, time: float, previous: Image.Image | None,
             size: tuple[int, int]) -> tuple[Sample, Image.Image]:
    """The Sample of one frame and its thumbnail (the next frame's 'previous')."""
    thumb = frame.to_image(width=size[0], height=size[1], interpolation="AREA")
    rgb = thumb.tobytes()
    change = _pixels.mean_abs_difference(previous, thumb) if previous is not None else None
    sample = Sample(time=round(time, 3), luma=_pixels.luma(thumb), rgb=_pixels.mean_rgb(thumb),
                    hist=_pixels.histogram(rgb), thumb=rgb, change=change)
    return sample, thumb


def _median_keyframe_gap(path: Path) -> float | None:
    """Median seconds between keyframes, from packet headers only (no decoding)."""
    times: list[float] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.is_keyframe and packet.pts is not None and packet.time_base is not None:
                    times.append(float(packet.pts * packet.time_base))
    except (av.error.FFmpegError, ValueError, OSError):
        pass  # a damaged tail still leaves the keyframes seen so far
    times.sort()
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    return gaps[len(gaps) // 2] if gaps else None


def _container_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """Duration in seconds from the container, else the stream, else 0."""
    if container.duration and container.duration > 0:
        return container.duration / 1_000_000
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _creation_date(metadata: dict[str, str]) -> str | None:
    """The container's creation date as YYYY-MM-DD when it is plausible."""
    value = metadata.get("creation_time") or metadata.get("date") or ""
    date = value[:10]
    if len(date) == 10 and date[4] == "-" and date[7] == "-" and date[:4].isdigit():
        if int(date[:4]) >= MIN_PLAUSIBLE_YEAR:
            return date
    return None


def _camera(metadata: dict[str, str]) -> str | None:
    """Camera make and model from container tags (QuickTime/Android), if any."""
    make = model = ""
    for key, value in metadata.items():
        lowered = key.lower()
        if lowered.endswith("make"):
            make = value.strip()
        elif lowered.endswith("model"):
            model = value.strip()
    camera = " ".join(part for part in (make, model) if part)
    return camera or None
