"""Time make_video_proxy against the ffmpeg CLI doing the same transcode; prints both and the ratio."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import av  # noqa: E402
import imageio_ffmpeg  # noqa: E402

from app.media import _transcode  # noqa: E402
from app.media.probe import probe_file  # noqa: E402
from app.media.proxies import make_video_proxy  # noqa: E402

SAMPLE = "one-by-one-person-detection.mp4"
RUNS = 3
MAX_HEIGHT, FPS = 720, 15


def media_dir() -> Path:
    """MEDIA_DIR from the environment, else the sample media kept in tests/media."""
    return Path(os.environ.get("MEDIA_DIR") or REPO / "tests" / "media")


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)


def best_of(runs: int, jobs: list[Callable[[], object]]) -> list[float]:
    """Fastest wall-clock time of each job over `runs` rounds, alternating jobs so load spikes hit both."""
    best = [float("inf")] * len(jobs)
    for _ in range(runs):
        for index, job in enumerate(jobs):
            start = time.perf_counter()
            job()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


def ffmpeg_command(src: Path, dest: Path, width: int, height: int, audio_channels: int | None,
                   rate: Fraction) -> list[str]:
    """The ffmpeg CLI equivalent of make_video_proxy's settings, at the frame rate it picks (`rate`)."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(src),
           "-vf", f"fps={rate.numerator}/{rate.denominator},scale={width}:{height}:flags=bicubic",
           "-c:v", "libx264", "-preset", _transcode.X264_PRESET, "-crf", str(_transcode.X264_CRF),
           "-g", str(_transcode.gop_frames(rate)), "-pix_fmt", "yuv420p", "-threads", "0"]
    if audio_channels:
        channels = min(2, audio_channels)
        cmd += ["-c:a", "aac", "-b:a", str(_transcode.AUDIO_BITRATE[channels]), "-ac", str(channels)]
    else:
        cmd += ["-an"]
    return cmd + ["-movflags", "+faststart", str(dest)]


def main() -> int:
    src = media_dir() / SAMPLE
    info = probe_file(src)
    width, height = _transcode.plan_size((info.width, info.height), MAX_HEIGHT)
    # Both sides at the rate make_video_proxy picks (the source's, at most FPS), so the ratio compares
    # the same work.
    rate = _transcode.planned_rate(src, FPS)
    print(f"source: {src.name} {info.width}x{info.height} {info.fps} fps {info.duration_seconds} s, "
          f"audio={info.audio_codec or 'none'}; proxy {width}x{height} @ {float(rate):g} fps (at most {FPS}), "
          f"x264 {_transcode.X264_PRESET} crf {_transcode.X264_CRF}; best of {RUNS}")
    with tempfile.TemporaryDirectory() as tmp:
        pyav_out, ffmpeg_out = Path(tmp, "pyav.mp4"), Path(tmp, "ffmpeg.mp4")
        cmd = ffmpeg_command(src, ffmpeg_out, width, height, info.audio_channels, rate)
        pyav, ffmpeg = best_of(RUNS, [
            lambda: make_video_proxy(src, pyav_out, max_height=MAX_HEIGHT, fps=FPS),
            lambda: subprocess.run(cmd, check=True),
        ])
        sizes = pyav_out.stat().st_size, ffmpeg_out.stat().st_size
        frames = frame_count(pyav_out), frame_count(ffmpeg_out)
    print(f"pyav   make_video_proxy: {pyav:6.2f} s  ({sizes[0]:,} bytes, {frames[0]:,} frames)")
    print(f"ffmpeg cli             : {ffmpeg:6.2f} s  ({sizes[1]:,} bytes, {frames[1]:,} frames)")
    print(f"ratio pyav/ffmpeg      : {pyav / ffmpeg:6.2f}  (target <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
