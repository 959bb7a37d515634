"""The PyAV pipeline behind video proxies: decode, retime to a constant rate, scale, rotate, encode."""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.video.frame import PictureType, VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from . import _video
from .errors import MediaError, ProxyCancelled

log = logging.getLogger(__name__)

X264_PRESET = "veryfast"
X264_CRF = 27
# A keyframe every two seconds keeps browser scrubbing snappy at little cost in size, and lets long videos be
# cut into segments without re-encoding (app/media/segments.py): keyframes are forced at every multiple of
# GOP_SECONDS, so segment boundaries on whole even seconds fall exactly on one.
GOP_SECONDS = 2
AUDIO_BITRATE = {1: 64_000, 2: 128_000}
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
_CANCEL_CHECK_SECONDS = 0.2
# Filters that turn stored frames upright, keyed by the counter-clockwise display rotation.
_UPRIGHT_FILTERS = {90: [("transpose", "cclock")], 270: [("transpose", "clock")],
                    180: [("hflip", None), ("vflip", None)]}


@dataclass(frozen=True)
class TranscodeSettings:
    """Output parameters of a proxy; `fps` is a ceiling (see proxy_rate)."""

    max_height: int
    fps: int
    preset: str = X264_PRESET
    crf: int = X264_CRF


@dataclass(frozen=True)
class TranscodeOutcome:
    """What was written: display size and the length of the video track."""

    width: int
    height: int
    duration_seconds: float


def plan_size(display: tuple[int, int], max_height: int) -> tuple[int, int]:
    """Even output size no taller than `max_height`, aspect kept, never larger than the source."""
    src_w, src_h = display
    height = min(max_height, src_h)
    height = max(2, height - height % 2)
    width = src_w * height / src_h
    width = min(int(round(width / 2)) * 2, src_w - src_w % 2)
    return max(2, width), height


def proxy_rate(source: Fraction | None, ceiling: int) -> Fraction:
    """The proxy's constant frame rate: the source's average rate, never above `ceiling`.

    A ceiling, not a target: filling a 10 fps source up to 15 fps repeats every second frame (2,091 frames
    instead of 1,394 for the 139 s sample, 25% slower to make) with nothing more to see. At the same CRF
    x264 gives frames that last longer a few more bits, so such a proxy comes out a little larger (+8%)
    and sharper. A source with a variable rate gives its average rate (bursts above it lose frames, gaps
    repeat one, as ffmpeg's fps filter does). Denominators stay within 1001 (NTSC's 30000/1001), so the
    time base, 1/rate, stays small.
    """
    if source is None or source <= 0:
        return Fraction(ceiling)
    rate = min(Fraction(source), Fraction(ceiling)).limit_denominator(1001)
    return max(rate, Fraction(1, 1001))


def source_rate(stream: VideoStream) -> Fraction | None:
    """The stream's average frame rate (frames over duration), else FFmpeg's guess; None when unknown."""
    return stream.average_rate or stream.guessed_rate or None


def planned_rate(src: Path, ceiling: int) -> Fraction:
    """The frame rate a proxy of `src` gets (for comparisons such as bench/proxies.py)."""
    with _video.open_input(src) as inp:
        return proxy_rate(source_rate(_video.require_video_stream(inp)), ceiling)


def output_audio_rate(rate: int) -> int:
    """A sample rate AAC supports, at most 48 kHz (proxies need no more)."""
    return rate if rate in _AAC_RATES and rate <= 48000 else 48000


def transcode(src: Path, tmp: Path, settings: TranscodeSettings, *,
              progress: Callable[[float], None] | None = None,
              should_cancel: Callable[[], bool] | None = None) -> TranscodeOutcome:
    """Write an MP4 proxy of `src` to `tmp`; raises MediaError or ProxyCancelled."""
    rotation = _first_frame_rotation(src)
    with _video.open_input(src) as inp:
        try:
            out = av.open(str(tmp), mode="w", format="mp4", container_options={"movflags": "+faststart"})
        except av.FFmpegError as exc:
            raise MediaError(f"cannot write proxy: {_video.av_reason(exc)}") from None
        try:
            outcome = _Job(inp, out, settings, rotation, progress, should_cancel).run()
            out.close()  # writes the trailer, then moves the index to the front (faststart)
        except av.FFmpegError as exc:
            _close_quietly(out)
            raise MediaError(f"cannot encode proxy: {_video.av_reason(exc)}") from None
        except BaseException:
            _close_quietly(out)
            raise
    return outcome


def _close_quietly(out: OutputContainer) -> None:
    """Close an abandoned output; its file is about to be deleted, so the original error is what counts."""
    try:
        out.close()
    except Exception:  # noqa: BLE001
        log.debug("closing an abandoned proxy failed", exc_info=True)


def _first_frame_rotation(src: Path) -> int:
    # Rotation is side data on decoded frames, so peek at one before planning the output size.
    with _video.open_input(src) as probe:
        stream = _video.require_video_stream(probe)
        return _video.rotation_of(_video.first_frame(probe, stream))


class _Job:
    """One transcode: owns the output container and the per-stream state."""

    def __init__(self, inp: InputContainer, out: OutputContainer, settings: TranscodeSettings, rotation: int,
                 progress: Callable[[float], None] | None,
                 should_cancel: Callable[[], bool] | None):
        self.inp = inp
        self.settings = settings
        self.progress = progress
        self.should_cancel = should_cancel
        self.vin: VideoStream = _video.require_video_stream(inp)
        self.ain: AudioStream | None = _video.richest_audio_stream(inp)
        self.vin.thread_type = "AUTO"
        self.vin.thread_count = 0
        self.duration = _video.duration_seconds(inp, self.vin)
        tb = self.vin.time_base or Fraction(1, 90000)
        self.t0 = float((self.vin.start_time or 0) * tb)
        src_rate = source_rate(self.vin)
        self.rate = proxy_rate(src_rate, settings.fps)
        self.src_frame_seconds = 1 / float(src_rate or self.rate)

        self.width, self.height = plan_size(_video.display_size(self.vin, rotation), settings.max_height)
        quarter = rotation in (90, 270)
        self.scaled_size = (self.height, self.width) if quarter else (self.width, self.height)
        self.reformatter = VideoReformatter()
        self.upright = _upright_graph(self.scaled_size, rotation)

        self.out = out
        self.vout = self._add_video_stream()
        self.aout = self._add_audio_stream() if self.ain is not None else None
        self.resampler = None
        if self.aout is not None:
            ctx = self.aout.codec_context
            self.resampler = av.AudioResampler(format="fltp", layout=ctx.layout, rate=ctx.sample_rate,
                                               frame_size=ctx.frame_size or 1024)

        # A timestamp jump far past the known length (a damaged file) must not become hours of copies.
        self.last_slot = _slot(self.duration + 1.0, self.rate) if self.duration else None
        self.key_period = GOP_SECONDS * self.rate  # frames between forced keyframes (a Fraction)
        self.pending: VideoFrame | None = None
        self.pending_rel = 0.0
        self.pending_seconds = self.src_frame_seconds
        self.next_slot = 0
        self.audio_next_pts: int | None = None
        self.last_percent = -1
        self.last_cancel_check = 0.0

    def _add_video_stream(self) -> VideoStream:
        s = self.settings
        # One tick of the time base per frame, so a frame's pts is its slot number.
        stream = self.out.add_stream(
            "libx264", rate=self.rate, width=self.width, height=self.height, time_base=1 / self.rate,
            options={"preset": s.preset, "crf": str(s.crf)})
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop_frames(self.rate)
        # As the ffmpeg CLI does: libx264 picks the thread count and uses frame threads, which
        # compress better than the sliced threads PyAV's default thread type would select.
        stream.codec_context.thread_count = 0
        stream.codec_context.thread_type = "AUTO"
        return stream

    def _add_audio_stream(self) -> AudioStream:
        assert self.ain is not None
        channels = min(2, self.ain.codec_context.channels)
        rate = output_audio_rate(self.ain.codec_context.sample_rate or 48000)
        stream = self.out.add_stream("aac", rate=rate, time_base=Fraction(1, rate),
                                     bit_rate=AUDIO_BITRATE[channels])
        stream.codec_context.layout = "stereo" if channels == 2 else "mono"
        return stream

    def run(self) -> TranscodeOutcome:
        streams = [self.vin] + ([self.ain] if self.ain is not None else [])
        packets = self.inp.demux(*streams)
        while True:
            self._check_cancel()
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                if self.pending is None:
                    raise MediaError(f"cannot decode: {_video.av_reason(exc)}") from None
                # A truncated file: keep what decoded, as a player would.
                log.warning("stopped reading %s: %s", self.inp.name, _video.av_reason(exc))
                self._drain_decoders()
                break
            self._handle(packet.stream, _decode(packet))
        self._finish()
        return TranscodeOutcome(self.width, self.height, round(float(self.next_slot / self.rate), 3))

    def _handle(self, stream: av.stream.Stream, frames: list) -> None:
        if stream.index == self.vin.index:
            for frame in frames:
                self._on_video(frame)
        elif self.ain is not None and stream.index == self.ain.index:
            for frame in frames:
                self._on_audio(frame)

    def _drain_decoders(self) -> None:
        for stream in (self.vin, self.ain):
            if stream is not None:
                try:
                    self._handle(stream, stream.decode(None))
                except (av.FFmpegError, ValueError) as exc:
                    log.debug("decoder flush failed: %s", _video.av_reason(exc))

    def _on_video(self, frame: VideoFrame) -> None:
        if frame.time is not None:
            rel = frame.time - self.t0
        elif self.pending is not None:
            rel = self.pending_rel + self.pending_seconds
        else:
            rel = 0.0
        if self.pending is not None:
            if rel <= self.pending_rel:
                return  # out-of-order or repeated timestamp: keep the frame we already hold
            self._emit(self.pending, _slot(rel, self.rate))
        self.pending, self.pending_rel = frame, rel
        if frame.duration and frame.time_base:
            self.pending_seconds = float(frame.duration * frame.time_base)
        else:
            self.pending_seconds = self.src_frame_seconds
        self._report(rel)

    def _emit(self, frame: VideoFrame, end_slot: int) -> None:
        """Encode `frame` for every output slot before `end_slot` (none when it falls between slots)."""
        if self.last_slot is not None:
            end_slot = min(end_slot, self.last_slot)
        if end_slot <= self.next_slot:
            return
        w, h = self.scaled_size
        picture = self.reformatter.reformat(frame, width=w, height=h, format="yuv420p",
                                            interpolation="BICUBIC")
        if self.upright is not None:
            self.upright.vpush(picture)
            picture = self.upright.vpull()
        picture.time_base = 1 / self.rate
        for slot in range(self.next_slot, end_slot):
            picture.pts = slot
            # libx264 obeys the decoder's I/P/B labels (no B-frames, source keyframes forced) unless cleared;
            # an I label on the first frame of every GOP_SECONDS makes an IDR frame there (closed GOPs).
            picture.pict_type = PictureType.I if is_keyframe_slot(slot, self.key_period) else PictureType.NONE
            self.out.mux(self.vout.encode(picture))
        self.next_slot = end_slot

    def _on_audio(self, frame: av.AudioFrame) -> None:
        assert self.aout is not None and self.resampler is not None
        rate = self.aout.codec_context.sample_rate
        if self.audio_next_pts is None:
            # Place the first sound where it starts relative to the first picture; audio that starts
            # before the picture is simply shifted (proxies tolerate a few ms of offset).
            offset = (frame.time - self.t0) if frame.time is not None else 0.0
            self.audio_next_pts = max(0, round(offset * rate))
        try:
            converted = self.resampler.resample(frame)
        except ValueError as exc:
            log.warning("skipping audio frame in %s: %s", self.inp.name, exc)
            return
        self._encode_audio(converted)

    def _encode_audio(self, frames: list) -> None:
        assert self.aout is not None and self.audio_next_pts is not None
        rate = self.aout.codec_context.sample_rate
        for frame in frames:
            if frame is None:
                continue
            frame.pts = self.audio_next_pts
            frame.time_base = Fraction(1, rate)
            self.audio_next_pts += frame.samples
            self.out.mux(self.aout.encode(frame))

    def _finish(self) -> None:
        if self.pending is None:
            raise MediaError("cannot decode: no video frames")
        end = self.pending_rel + self.pending_seconds
        self._emit(self.pending, max(_slot(end, self.rate), 1))
        self.pending = None
        self.out.mux(self.vout.encode(None))
        if self.aout is not None and self.resampler is not None and self.audio_next_pts is not None:
            self._encode_audio(self.resampler.resample(None))
            self.out.mux(self.aout.encode(None))
        if self.progress is not None:
            self.progress(1.0)

    def _report(self, rel: float) -> None:
        if self.progress is None or not self.duration:
            return
        percent = int(min(1.0, max(0.0, rel / self.duration)) * 100)
        if percent > self.last_percent:
            self.last_percent = percent
            self.progress(min(percent / 100, 0.99))

    def _check_cancel(self) -> None:
        if self.should_cancel is None:
            return
        now = time.monotonic()
        if now - self.last_cancel_check < _CANCEL_CHECK_SECONDS:
            return
        self.last_cancel_check = now
        if self.should_cancel():
            raise ProxyCancelled(f"proxy of {self.inp.name} cancelled")


def _decode(packet: av.Packet) -> list:
    try:
        return packet.decode()
    except av.FFmpegError as exc:
        # One damaged packet costs a frame or two, not the whole proxy.
        log.debug("undecodable packet: %s", _video.av_reason(exc))
        return []


def _slot(seconds: float, rate: Fraction) -> int:
    """Index of the output frame nearest to `seconds`."""
    return math.floor(seconds * float(rate) + 0.5)


def gop_frames(rate: Fraction) -> int:
    """Most frames between keyframes: GOP_SECONDS of video at `rate` (rounded up, so the encoder never adds
    one of its own just before a forced one), at least one."""
    return max(1, math.ceil(GOP_SECONDS * rate))


def is_keyframe_slot(slot: int, period: Fraction) -> bool:
    """Whether output frame `slot` is the first at or after a multiple of GOP_SECONDS (`period` frames)."""
    return slot // period != (slot - 1) // period


def _upright_graph(size: tuple[int, int], rotation: int) -> av.filter.Graph | None:
    """A filter graph that turns frames of `size` upright, or None when they already are."""
    steps = _UPRIGHT_FILTERS.get(rotation)
    if not steps:
        return None
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(width=size[0], height=size[1], format="yuv420p", time_base=Fraction(1, 1000))]
    nodes += [graph.add(name, args) for name, args in steps]
    nodes.append(graph.add("buffersink"))
    graph.link_nodes(*nodes).configure()
    return graph

