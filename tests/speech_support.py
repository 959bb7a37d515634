"""Videos with real speech, made offline for the transcript tests: espeak-ng speaks each sentence into a WAV,
PyAV puts the sentences (with pauses) beside a sample video's picture, and the sentences' real times give a
truthful sidecar .srt. Also an MKV whose subtitles are a stream inside the container. Everything is written
to the test's temporary folder; nothing generated is committed.

espeak-ng is a Debian package that `make test` installs (Makefile: test-deps). A test that needs it fails
when it is missing: a skipped test would hide that transcripts were never tested.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest

from conftest import SAMPLE_MEDIA

RATE = 22_050  # espeak-ng's own output rate
SENTENCES = (
    "Welcome to the site walk-through of line four.",
    "The torque wrench calibration is overdue.",
    "Please check the conveyor belt tension before Friday.",
)
PICTURE_SOURCE = "bottle-detection.mp4"


@dataclass(frozen=True)
class SpeechVideo:
    path: Path
    cues: list[tuple[float, float, str]]  # when each sentence is spoken


def espeak() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        pytest.fail("espeak-ng is not installed: `make test-deps` (part of `make test`) installs it")
    return found


def speak(text: str, folder: Path) -> bytes:
    """16-bit mono PCM at RATE of espeak-ng saying `text`."""
    wav = folder / "sentence.wav"
    subprocess.run([espeak(), "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
    pcm = bytearray()
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    with av.open(str(wav)) as container:
        for frame in container.decode(audio=0):
            for part in resampler.resample(frame):
                pcm += bytes(part.planes[0])[: part.samples * 2]
    return bytes(pcm)


def make_speech_video(folder: Path, name: str = "walkthrough.mp4", sentences: tuple[str, ...] = SENTENCES, *,
                      lead: float = 0.8, gap: float = 1.2, sidecar: bool = True) -> SpeechVideo:
    """An MP4 with a sample video's picture and the sentences spoken; with `sidecar`, `<stem>.srt` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    pcm = bytearray(b"\x00\x00" * int(lead * RATE))
    cues = []
    with tempfile.TemporaryDirectory() as scratch:
        for sentence in sentences:
            spoken = speak(sentence, Path(scratch))
            start = len(pcm) / 2 / RATE
            pcm += spoken
            cues.append((round(start, 3), round(len(pcm) / 2 / RATE, 3), sentence))
            pcm += b"\x00\x00" * int(gap * RATE)
    path = folder / name
    with av.open(str(SAMPLE_MEDIA / PICTURE_SOURCE)) as source, av.open(str(path), mode="w") as out:
        video = out.add_stream_from_template(source.streams.video[0])
        audio = out.add_stream("aac", rate=RATE)
        audio.codec_context.layout = "mono"
        _write_pcm(out, audio, bytes(pcm))
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
    if sidecar:
        write_srt(path.with_suffix(".srt"), cues)
    return SpeechVideo(path=path, cues=cues)


def _write_pcm(out: av.container.OutputContainer, stream: av.AudioStream, pcm: bytes) -> None:
    chunk = 1024
    total = len(pcm) // 2
    for start in range(0, total, chunk):
        count = min(chunk, total - start)
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(pcm[start * 2:(start + count) * 2])
        frame.sample_rate = RATE
        frame.pts = start
        frame.time_base = Fraction(1, RATE)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def write_srt(path: Path, cues: list[tuple[float, float, str]]) -> Path:
    path.write_text("".join(f"{n}\n{_clock(s)} --> {_clock(e)}\n{text}\n\n" for n, (s, e, text) in
                            enumerate(cues, start=1)), encoding="utf-8")
    return path


def make_subtitled_mkv(folder: Path, cues: list[tuple[float, float, str]], name: str = "briefing.mkv",
                       language: str = "eng") -> Path:
    """An MKV with a sample video's picture and sound and the cues as a SubRip stream inside it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with tempfile.TemporaryDirectory() as scratch:
        srt = write_srt(Path(scratch) / "cues.srt", cues)
        with av.open(str(SAMPLE_MEDIA / "car-detection.mp4")) as source, av.open(str(srt)) as subs, \
                av.open(str(path), mode="w") as out:
            video = out.add_stream_from_template(source.streams.video[0])
            audio = out.add_stream_from_template(source.streams.audio[0])
            text = out.add_stream_from_template(subs.streams[0])
            text.metadata["language"] = language
            targets = {source.streams.video[0].index: video, source.streams.audio[0].index: audio}
            for packet in source.demux(source.streams.video[0], source.streams.audio[0]):
                if packet.dts is not None:
                    packet.stream = targets[packet.stream.index]
                    out.mux(packet)
            for packet in subs.demux(subs.streams[0]):
                if packet.dts is not None:
                    packet.stream = text
                    out.mux(packet)
    return path
