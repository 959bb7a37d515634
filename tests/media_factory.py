"""Synthesise tiny videos, sounds and photos for media tests (PyAV and Pillow, no binaries)."""
from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

# The frame's top half is TOP_COLOR and bottom half BOTTOM_COLOR, so tests can tell which way is up.
TOP_COLOR = (220, 30, 30)
BOTTOM_COLOR = (30, 30, 220)
# Colours shown in successive seconds of a video made with `colour_per_second=True`.
SECOND_COLORS = [(230, 40, 40), (40, 200, 40), (40, 40, 230), (230, 230, 40)]
_AUDIO_CODEC_FOR = {"webm": "libopus", "avi": "libmp3lame"}
_AUDIO_CHUNK = 1024


def make_test_video(path: Path, seconds: float = 2.0, width: int = 320, height: int = 240, fps: float = 25,
                    audio_channels: int | Sequence[int] = 0, codec: str = "libx264", *,
                    rotation: int = 0, audio_rate: int = 44100, colour_per_second: bool = False,
                    metadata: dict[str, str] | None = None) -> Path:
    """Write a small clip (container from the suffix); `audio_channels` may list several tracks."""
    path = Path(path)
    channel_list = [audio_channels] if isinstance(audio_channels, int) else list(audio_channels)
    channel_list = [c for c in channel_list if c]
    if path.suffix.lower() == ".webm":
        audio_rate = 48000  # Opus only runs at 48 kHz
    rate = Fraction(fps).limit_denominator(1001)
    # Dotted keys (com.apple.quicktime.*) need QuickTime 'mdta' tags, as phones write them.
    options = {"movflags": "use_metadata_tags"} if metadata and any("." in k for k in metadata) else None
    with av.open(str(path), mode="w", container_options=options) as out:
        if metadata:
            out.metadata.update(metadata)
        video = out.add_stream(codec, rate=rate, width=width, height=height)
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast"}
        if rotation:
            video.set_display_rotation(rotation)
        audio_streams = [_add_audio(out, path, channels, audio_rate) for channels in channel_list]
        frames = max(1, round(seconds * float(rate)))
        for index in range(frames):
            t = index / float(rate)
            picture = _picture(width, height, index, frames, SECOND_COLORS[int(t) % len(SECOND_COLORS)]
                               if colour_per_second else None)
            frame = av.VideoFrame.from_image(picture).reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for stream, channels in zip(audio_streams, channel_list):
            _write_tone(out, stream, channels, audio_rate, seconds)
    return path


def make_test_audio(path: Path, seconds: float = 1.0, channels: int = 2, rate: int = 44100) -> Path:
    """Write a sound-only file (e.g. .m4a) holding a sine tone."""
    path = Path(path)
    with av.open(str(path), mode="w") as out:
        stream = _add_audio(out, path, channels, rate)
        _write_tone(out, stream, channels, rate, seconds)
    return path


def make_test_jpeg(path: Path, size: tuple[int, int] = (400, 300), exif: dict | None = None,
                   mode: str = "RGB") -> Path:
    """Write a JPEG with TOP_COLOR on top; exif keys: datetime_original, datetime, gps, make, model, orientation."""
    path = Path(path)
    picture = _picture(*size, 0, 1, None)
    if mode != "RGB":
        picture = picture.convert(mode)
    picture.save(path, format="JPEG", quality=90, exif=build_exif(exif or {}))
    return path


def make_test_png(path: Path, size: tuple[int, int] = (300, 200), transparent: bool = True) -> Path:
    """Write an RGBA PNG; with `transparent` its right half is see-through."""
    path = Path(path)
    picture = _picture(*size, 0, 1, None).convert("RGBA")
    if transparent:
        ImageDraw.Draw(picture).rectangle([size[0] // 2, 0, size[0], size[1]], fill=(0, 0, 0, 0))
    picture.save(path, format="PNG")
    return path


def make_test_gif(path: Path, size: tuple[int, int] = (120, 80), frames: int = 3) -> Path:
    """Write an animated GIF whose frames have different colours."""
    path = Path(path)
    pictures = [Image.new("RGB", size, SECOND_COLORS[i % len(SECOND_COLORS)]) for i in range(frames)]
    pictures[0].save(path, format="GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return path


def truncated_copy(src: Path, dest: Path, size_bytes: int) -> Path:
    """Copy only the first `size_bytes` bytes of `src` (a download cut short)."""
    dest = Path(dest)
    with open(src, "rb") as fh:
        dest.write_bytes(fh.read(size_bytes))
    return dest


def build_exif(fields: dict) -> Image.Exif:
    """A Pillow Exif block from friendly keys (see make_test_jpeg)."""
    exif = Image.Exif()
    if "orientation" in fields:
        exif[0x0112] = fields["orientation"]
    if "make" in fields:
        exif[0x010F] = fields["make"]
    if "model" in fields:
        exif[0x0110] = fields["model"]
    if "datetime" in fields:
        exif[0x0132] = fields["datetime"]
    if "datetime_original" in fields:
        exif.get_ifd(0x8769)[0x9003] = fields["datetime_original"]
    if "gps" in fields:
        lat, lon = fields["gps"]
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    return exif


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return float(degrees), float(minutes), seconds


def _picture(width: int, height: int, index: int, frames: int, colour: tuple[int, int, int] | None) -> Image.Image:
    if colour is not None:
        return Image.new("RGB", (width, height), colour)
    picture = Image.new("RGB", (width, height), BOTTOM_COLOR)
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, 0, width, height // 2 - 1], fill=TOP_COLOR)
    # A small square moving left to right gives the encoder some motion to chew on.
    side = max(2, min(width, height) // 8)
    x = (width - side) * index // max(1, frames - 1)
    draw.rectangle([x, height // 2 - side // 2, x + side, height // 2 + side // 2], fill=(250, 250, 250))
    return picture


def _add_audio(out: av.container.OutputContainer, path: Path, channels: int, rate: int) -> av.AudioStream:
    codec = _AUDIO_CODEC_FOR.get(path.suffix.lstrip(".").lower(), "aac")
    stream = out.add_stream(codec, rate=rate)
    stream.codec_context.layout = "stereo" if channels == 2 else "mono" if channels == 1 else f"{channels}c"
    return stream


def _write_tone(out: av.container.OutputContainer, stream: av.AudioStream, channels: int, rate: int,
                seconds: float) -> None:
    total = int(seconds * rate)
    layout = "stereo" if channels == 2 else "mono" if channels == 1 else f"{channels}c"
    for start in range(0, total, _AUDIO_CHUNK):
        count = min(_AUDIO_CHUNK, total - start)
        samples = array("h", (int(8000 * math.sin(2 * math.pi * 440 * (start + i) / rate))
                              for i in range(count) for _ in range(channels)))
        frame = av.AudioFrame(format="s16", layout=layout, samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
