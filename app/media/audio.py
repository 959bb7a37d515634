"""The audio track as speech services want it, and how loud it is moment by moment (PyAV, no ffmpeg binary).

Amazon Transcribe batch jobs accept FLAC and recommend lossless audio (docs/transcribe-facts.md §Limits), so a
video's first audio track is extracted as 16 kHz mono FLAC: every word stays intelligible, and four hours come
to a few hundred MB, far below the 2 GB input limit. `sound_levels` measures the RMS level of every 20 ms of
audio with ffmpeg's astats filter; the offline stand-in for Transcribe finds stretches of sound with it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
from av.filter import Graph

from ._files import atomic_target, check_readable
from .errors import MediaError, ProxyCancelled

SPEECH_SAMPLE_RATE = 16_000
LEVEL_FRAME_SECONDS = 0.02
SILENT_DB = -120.0  # what digital silence (-inf dBFS) is reported as
_CANCEL_EVERY = 200  # decoded frames between cancellation checks


@dataclass(frozen=True)
class AudioExtract:
    """What extract_audio wrote."""

    path: Path
    duration_seconds: float
    size_bytes: int
    sample_rate: int
    channels: int = 1
    media_format: str = "flac"


def has_audio(path: Path | str) -> bool:
    """Whether the file has an audio stream PyAV can open."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError):
        return False


def extract_audio(source: Path | str, dest: Path | str, *, sample_rate: int = SPEECH_SAMPLE_RATE,
                  should_cancel: Callable[[], bool] | None = None) -> AudioExtract:
    """Write the first audio track of `source` to `dest` as mono FLAC at `sample_rate`; MediaError when there is
    none or it cannot be decoded, ProxyCancelled when should_cancel() says so (nothing is left behind)."""
    source, dest = Path(source), Path(dest)
    check_readable(source)
    samples = 0
    with atomic_target(dest) as tmp:
        try:
            with av.open(str(source)) as container:
                if not container.streams.audio:
                    raise MediaError("the file has no audio track")
                stream = container.streams.audio[0]
                with av.open(str(tmp), mode="w", format="flac") as out:
                    encoder = out.add_stream("flac", rate=sample_rate, layout="mono")
                    encoder.format = "s16"
                    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
                    for index, frame in enumerate(container.decode(stream)):
                        if should_cancel is not None and index % _CANCEL_EVERY == 0 and should_cancel():
                            raise ProxyCancelled()
                        for part in resampler.resample(frame):
                            samples += part.samples
                            out.mux(encoder.encode(part))
                    for part in resampler.resample(None):
                        samples += part.samples
                        out.mux(encoder.encode(part))
                    out.mux(encoder.encode(None))
        except (av.FFmpegError, ValueError) as exc:
            raise MediaError(f"cannot decode the audio track: {exc}") from None
        if samples == 0:
            raise MediaError("the audio track holds no sound")
    return AudioExtract(path=dest, duration_seconds=samples / sample_rate, size_bytes=dest.stat().st_size,
                        sample_rate=sample_rate)


def sound_levels(path: Path | str, *, frame_seconds: float = LEVEL_FRAME_SECONDS) -> list[float]:
    """The RMS level (dBFS, SILENT_DB for digital silence) of each `frame_seconds` of the first audio track."""
    path = Path(path)
    check_readable(path)
    frame_samples = max(1, round(SPEECH_SAMPLE_RATE * frame_seconds))
    levels: list[float] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError("the file has no audio track")
            stream = container.streams.audio[0]
            graph = _level_graph(stream, frame_samples)
            for frame in container.decode(stream):
                graph.push(frame)
                _drain(graph, levels)
            graph.push(None)
            _drain(graph, levels)
    except (av.FFmpegError, ValueError) as exc:  # ValueError: a stream PyAV cannot describe (no sample format)
        raise MediaError(f"cannot decode the audio track: {exc}") from None
    return levels


def _level_graph(stream: av.audio.stream.AudioStream, frame_samples: int) -> Graph:
    """abuffer -> 16 kHz mono -> fixed-size frames -> astats (RMS per frame, in each frame's metadata)."""
    graph = Graph()
    chain = [
        graph.add_abuffer(template=stream),
        graph.add("aresample", str(SPEECH_SAMPLE_RATE)),
        graph.add("aformat", "sample_fmts=s16:channel_layouts=mono"),
        graph.add("asetnsamples", f"n={frame_samples}:p=0"),
        graph.add("astats", "metadata=1:reset=1:measure_perchannel=none:measure_overall=RMS_level"),
        graph.add("abuffersink"),
    ]
    for upstream, downstream in zip(chain, chain[1:]):
        upstream.link_to(downstream)
    graph.configure()
    return graph


def _drain(graph: Graph, levels: list[float]) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        raw = frame.metadata.get("lavfi.astats.Overall.RMS_level")
        try:
            level = float(raw) if raw is not None else SILENT_DB
        except ValueError:
            level = SILENT_DB
        levels.append(level if math.isfinite(level) else SILENT_DB)
