"""Long videos for the segment tests, made in seconds without a big file in the repository: a synthetic clip
whose every frame shows its own second as a bar code, and sample clips looped by remuxing (no re-encode)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 14  # up to 16,383 s (4.5 hours)
WIDTH, HEIGHT = 112, 64  # 8 px per bar


def make_timestamped_video(path: Path, seconds: int, *, fps: int = 1) -> Path:
    """An H.264 MP4 of `seconds` seconds at `fps` whose frames show int(time) in binary (bright bar = 1)."""
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps, width=WIDTH, height=HEIGHT)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        for index in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(_bars(index // fps), format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _bars(value: int) -> np.ndarray:
    picture = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    bar = WIDTH // BITS
    for bit in range(BITS):
        if value >> (BITS - 1 - bit) & 1:
            picture[:, bit * bar:(bit + 1) * bar] = 255
    return picture


def read_second(frame: av.VideoFrame) -> int:
    """The second a frame of make_timestamped_video shows (scaled copies read the same)."""
    gray = frame.to_ndarray(format="gray")
    bar = gray.shape[1] / BITS
    value = 0
    for bit in range(BITS):
        column = gray[:, int(bit * bar + bar / 4):int((bit + 1) * bar - bar / 4)]
        value = value << 1 | int(column.mean() > 128)
    return value


def first_and_last_second(path: Path) -> tuple[int, int, float, int]:
    """(second shown by the first frame, by the last frame, first frame's time, frame count) of a video."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return read_second(frames[0]), read_second(frames[-1]), float(frames[0].time), len(frames)


def loop_clip(src: Path, dest: Path, times: int) -> Path:
    """`src` played `times` times in a row, remuxed (its packets copied, timestamps moved on each loop)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as probe:
        video = probe.streams.video[0]
        span = max(p.pts + (p.duration or 0) for p in probe.demux(video) if p.pts is not None)
    with av.open(str(dest), mode="w", format="mp4") as out:
        with av.open(str(src)) as first:
            vout = out.add_stream_from_template(first.streams.video[0])
        for loop in range(times):
            with av.open(str(src)) as inp:
                stream = inp.streams.video[0]
                for packet in inp.demux(stream):
                    if packet.pts is None:
                        continue
                    packet.pts += loop * span
                    if packet.dts is not None:
                        packet.dts += loop * span
                    packet.stream = vout
                    out.mux(packet)
    return dest
