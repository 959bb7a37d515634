"""Video and image proxies and thumbnails, checked by reading the written files back."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import pytest
from media_factory import (BOTTOM_COLOR, SECOND_COLORS, TOP_COLOR, make_test_gif, make_test_jpeg, make_test_png,
                           make_test_video, truncated_copy)
from PIL import Image

from app.media._transcode import plan_size, proxy_rate
from app.media.errors import MediaError, ProxyCancelled
from app.media.proxies import IMAGE_PROXY_SPEC, VIDEO_PROXY_SPEC, make_image_proxy, make_video_proxy
from app.media.thumbnails import extract_frame_jpeg, make_thumbnail

MEDIA = Path(os.environ.get("MEDIA_DIR") or Path(__file__).resolve().parent / "media")


def read_video(path: Path) -> dict:
    """What a player would see: streams, sizes, packet times and container duration."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        facts = {
            "codec": video.codec_context.name, "pix_fmt": video.codec_context.format.name,
            "width": video.codec_context.width, "height": video.codec_context.height,
            "rate": video.average_rate, "duration": container.duration / 1_000_000,
            "audio": [(a.codec_context.name, a.codec_context.channels) for a in container.streams.audio],
        }
        times = sorted(float(p.pts * p.time_base) for p in container.demux(video) if p.pts is not None)
    return {**facts, "frames": len(times), "times": times}


def atom_offset(path: Path, name: bytes) -> int:
    """Byte offset of a top-level MP4 atom, walking the box headers."""
    data = path.read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        if data[offset + 4:offset + 8] == name:
            return offset
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        if size < 8:
            break
        offset += size
    raise AssertionError(f"no {name!r} atom in {path}")


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def near(colour: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


@pytest.fixture(scope="module")
def car_proxy(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder = tmp_path_factory.mktemp("car")
    seen: list[float] = []
    result = make_video_proxy(MEDIA / "car-detection.mp4", folder / "car.mp4", progress=seen.append)
    return result, read_video(result.path), seen, folder


def test_video_proxy_is_h264_yuv420p_within_720p_with_even_sides(car_proxy: tuple) -> None:
    result, video, _, _ = car_proxy
    assert (video["codec"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert (video["width"], video["height"]) == (768, 432), "432 px high is below 720 and kept"
    assert video["width"] % 2 == 0 and video["height"] % 2 == 0
    assert (result.width, result.height) == (video["width"], video["height"])
    assert result.size_bytes == result.path.stat().st_size
    assert result.spec == VIDEO_PROXY_SPEC == "h264-720p-15fps-aac"


def test_video_proxy_keeps_a_12_5_fps_source_at_a_constant_12_5_fps(car_proxy: tuple) -> None:
    # 15 fps is a ceiling, not a target: a slower source keeps its own rate (no duplicated frames).
    _, video, _, _ = car_proxy
    assert video["rate"] == Fraction(25, 2)
    steps = {round(b - a, 4) for a, b in zip(video["times"], video["times"][1:])}
    assert steps == {0.08}
    assert video["frames"] == 377, "the source's 377 frames, each once"


def test_video_proxy_keeps_source_duration_and_audio(car_proxy: tuple) -> None:
    result, video, _, _ = car_proxy
    assert video["duration"] == pytest.approx(30.16, abs=0.2)
    assert result.duration_seconds == pytest.approx(30.16, abs=0.2)
    assert video["audio"] == [("aac", 2)]


def test_video_proxy_is_faststart(car_proxy: tuple) -> None:
    result, _, _, _ = car_proxy
    assert atom_offset(result.path, b"moov") < atom_offset(result.path, b"mdat")


def test_video_proxy_reports_rising_progress_ending_at_one(car_proxy: tuple) -> None:
    _, _, seen, _ = car_proxy
    assert len(seen) > 10
    assert seen == sorted(seen) and 0 <= seen[0] and seen[-1] == 1.0


def test_video_proxy_leaves_only_the_proxy_behind(car_proxy: tuple) -> None:
    _, _, _, folder = car_proxy
    assert leftovers(folder, keep=set()) == ["car.mp4"]


def test_silent_source_gives_silent_proxy_and_drops_frames_to_15_fps(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "fast.mp4", seconds=2, fps=30)
    video = read_video(make_video_proxy(src, tmp_path / "out" / "p.mp4").path)
    assert video["audio"] == []
    assert video["frames"] == 30
    assert video["duration"] == pytest.approx(2.0, abs=0.2)


def test_slow_source_keeps_its_rate(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "slow.mp4", seconds=2, fps=5)
    result = make_video_proxy(src, tmp_path / "p.mp4")
    video = read_video(result.path)
    assert video["rate"] == 5 and video["frames"] == 10
    assert {round(b - a, 4) for a, b in zip(video["times"], video["times"][1:])} == {0.2}
    assert result.duration_seconds == pytest.approx(2.0) == pytest.approx(video["duration"], abs=0.05)


def test_10_fps_sample_gives_a_10_fps_proxy_of_its_1394_frames(tmp_path: Path) -> None:
    result = make_video_proxy(MEDIA / "one-by-one-person-detection.mp4", tmp_path / "p.mp4")
    video = read_video(result.path)
    assert video["rate"] == 10 and video["frames"] == 1394, "at 15 fps it had 2,091 frames, a third copies"
    assert {round(b - a, 4) for a, b in zip(video["times"], video["times"][1:])} == {0.1}
    assert result.duration_seconds == pytest.approx(139.4) and video["duration"] == pytest.approx(139.4, abs=0.2)


def make_vfr_video(path: Path, steps: list[float], count: int) -> Path:
    """Frames `steps` seconds apart in turn (a variable frame rate), in an MP4 with a millisecond time base."""
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=30, width=160, height=120, time_base=Fraction(1, 1000))
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        seconds = 0.0
        for index in range(count):
            frame = av.VideoFrame(160, 120, "yuv420p")
            frame.pts, frame.time_base = round(seconds * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
            seconds += steps[index % len(steps)]
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(("steps", "expected"), [
    # Bursts at 50 fps, about 10 fps on average: the proxy runs at the average rate, not the burst rate.
    ([0.02, 0.18], None),
    # 20 fps on average: held at the 15 fps ceiling.
    ([0.02, 0.08], Fraction(15)),
])
def test_variable_rate_source_gets_its_average_rate_at_most_15(tmp_path: Path, steps: list, expected) -> None:
    src = make_vfr_video(tmp_path / "vfr.mp4", steps, 40)
    with av.open(str(src)) as container:
        average = container.streams.video[0].average_rate
    result = make_video_proxy(src, tmp_path / "p.mp4")
    video = read_video(result.path)
    rate = expected or average
    assert video["rate"] == pytest.approx(float(rate), abs=0.01) and video["rate"] <= 15
    assert len({round(b - a, 4) for a, b in zip(video["times"], video["times"][1:])}) == 1, "constant rate"
    assert video["frames"] == pytest.approx(result.duration_seconds * float(rate), abs=1)


@pytest.mark.parametrize(("source", "expected"), [
    (Fraction(10), Fraction(10)), (Fraction(25, 2), Fraction(25, 2)), (Fraction(15), Fraction(15)),
    (Fraction(30000, 1001), Fraction(15)), (Fraction(60), Fraction(15)), (Fraction(5), Fraction(5)),
    (Fraction(640000, 61653), Fraction(640000, 61653).limit_denominator(1001)), (None, Fraction(15)),
    (Fraction(0), Fraction(15)), (Fraction(1, 10**6), Fraction(1, 1001)),
])
def test_proxy_rate_is_the_source_rate_capped_at_the_ceiling(source, expected) -> None:
    assert proxy_rate(source, 15) == expected


def test_1080p_source_is_scaled_to_720_high(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "hd.mp4", seconds=0.5, width=1920, height=1080, fps=10)
    result = make_video_proxy(src, tmp_path / "p.mp4")
    video = read_video(result.path)
    assert (video["width"], video["height"]) == (1280, 720) == (result.width, result.height)


def test_small_source_is_not_upscaled(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "small.mp4", seconds=0.5, width=320, height=240, fps=10)
    video = read_video(make_video_proxy(src, tmp_path / "p.mp4").path)
    assert (video["width"], video["height"]) == (320, 240)


@pytest.mark.parametrize(("display", "expected"), [
    ((1920, 1080), (1280, 720)), ((3840, 2160), (1280, 720)), ((1080, 1920), (404, 720)),
    ((321, 241), (320, 240)), ((720, 480), (720, 480)), ((1440, 1080), (960, 720)), ((3, 3), (2, 2)),
])
def test_output_size_is_even_aspect_kept_and_never_larger(display: tuple, expected: tuple) -> None:
    assert plan_size(display, 720) == expected


def test_rotated_source_is_turned_upright(tmp_path: Path) -> None:
    # Stored frames have red on top; a 90 degree counter-clockwise display turn puts red on the left.
    src = make_test_video(tmp_path / "phone.mp4", seconds=0.5, width=320, height=240, fps=10, rotation=90)
    result = make_video_proxy(src, tmp_path / "p.mp4")
    with av.open(str(result.path)) as container:
        frame = next(container.decode(video=0))
        picture = frame.to_image()
    assert (result.width, result.height) == (240, 320) == picture.size
    assert frame.rotation == 0, "pixels are turned, so players need no display matrix"
    assert near(picture.getpixel((10, 160)), TOP_COLOR)
    assert near(picture.getpixel((230, 160)), BOTTOM_COLOR)


def test_audio_comes_from_the_track_with_most_channels(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "tracks.mp4", seconds=0.5, fps=10, audio_channels=(1, 2))
    assert read_video(make_video_proxy(src, tmp_path / "p.mp4").path)["audio"] == [("aac", 2)]


def test_mono_source_gives_mono_audio(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "mono.mp4", seconds=0.5, fps=10, audio_channels=1, audio_rate=22050)
    assert read_video(make_video_proxy(src, tmp_path / "p.mp4").path)["audio"] == [("aac", 1)]


def test_cancelling_at_once_leaves_no_files(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "clip.mp4", seconds=0.5, fps=10)
    with pytest.raises(ProxyCancelled):
        make_video_proxy(src, tmp_path / "p.mp4", should_cancel=lambda: True)
    assert leftovers(tmp_path, keep={"clip.mp4"}) == []


def test_cancelling_midway_removes_the_partial_output(tmp_path: Path) -> None:
    seen: list[float] = []
    with pytest.raises(ProxyCancelled):
        make_video_proxy(MEDIA / "car-detection.mp4", tmp_path / "p.mp4", progress=seen.append,
                         should_cancel=lambda: bool(seen) and seen[-1] >= 0.1)
    assert 0.1 <= seen[-1] < 1.0
    assert leftovers(tmp_path, keep=set()) == []


def test_failed_proxy_raises_media_error_and_leaves_no_files(tmp_path: Path) -> None:
    src = tmp_path / "notes.mov"
    src.write_text("not a movie\n" * 100)
    with pytest.raises(MediaError, match="^cannot decode"):
        make_video_proxy(src, tmp_path / "p.mp4")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(MediaError, match=r"^empty file \(0 bytes\)$"):
        make_video_proxy(empty, tmp_path / "p.mp4")
    assert leftovers(tmp_path, keep={"notes.mov", "empty.mp4"}) == []


def test_truncated_video_gives_a_proxy_of_what_decodes(tmp_path: Path) -> None:
    source = MEDIA / "car-detection.mp4"
    src = truncated_copy(source, tmp_path / "half.mp4", source.stat().st_size // 2)
    result = make_video_proxy(src, tmp_path / "p.mp4")
    video = read_video(result.path)
    assert 5 < video["duration"] < 25
    assert video["frames"] == pytest.approx(result.duration_seconds * 12.5, abs=1)


def test_existing_proxy_is_replaced_whole(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "clip.mp4", seconds=0.5, fps=10)
    dest = tmp_path / "p.mp4"
    dest.write_bytes(b"old proxy")
    result = make_video_proxy(src, dest)
    assert read_video(dest)["frames"] == 5 and result.size_bytes == dest.stat().st_size


def test_wall_photo_proxy_is_1195_by_896_jpeg(tmp_path: Path) -> None:
    result = make_image_proxy(MEDIA / "Wall.jpg", tmp_path / "wall")
    assert result.path == tmp_path / "wall.jpg"
    with Image.open(result.path) as im:
        assert (im.format, im.size) == ("JPEG", (1195, 896))
    assert (result.width, result.height, result.spec) == (1195, 896, IMAGE_PROXY_SPEC)
    assert result.size_bytes == result.path.stat().st_size and result.duration_seconds is None


def test_small_photo_proxy_is_not_upscaled(tmp_path: Path) -> None:
    result = make_image_proxy(MEDIA / "kiwi.jpg", tmp_path / "kiwi")
    with Image.open(result.path) as im:
        assert im.size == (320, 320)


def test_transparent_image_proxy_stays_png_with_alpha(tmp_path: Path) -> None:
    src = make_test_png(tmp_path / "logo.png", size=(1200, 1000), transparent=True)
    result = make_image_proxy(src, tmp_path / "out" / "logo.v2")
    assert result.path == tmp_path / "out" / "logo.v2.png"
    with Image.open(result.path) as im:
        assert (im.format, im.mode, im.size) == ("PNG", "RGBA", (1075, 896))
        assert im.getpixel((1000, 10))[3] == 0


def test_opaque_png_proxy_becomes_jpeg(tmp_path: Path) -> None:
    src = make_test_png(tmp_path / "flat.png", size=(300, 200), transparent=False)
    with Image.open(make_image_proxy(src, tmp_path / "flat").path) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (300, 200))


def test_image_proxy_applies_exif_orientation(tmp_path: Path) -> None:
    src = make_test_jpeg(tmp_path / "phone.jpg", size=(2000, 1500), exif={"orientation": 6})
    result = make_image_proxy(src, tmp_path / "phone_proxy")
    with Image.open(result.path) as im:
        assert im.size == (896, 1195)
        assert not im.getexif().get(0x0112), "orientation is applied, not passed on"
        # Orientation 6 turns the picture clockwise: the red top ends up on the right.
        assert near(im.getpixel((880, 600)), TOP_COLOR) and near(im.getpixel((15, 600)), BOTTOM_COLOR)


def test_cmyk_jpeg_and_animated_gif_proxies_are_rgb_jpegs(tmp_path: Path) -> None:
    cmyk = make_image_proxy(make_test_jpeg(tmp_path / "print.jpg", mode="CMYK"), tmp_path / "print_p")
    gif = make_image_proxy(make_test_gif(tmp_path / "anim.gif"), tmp_path / "anim_p")
    with Image.open(cmyk.path) as a, Image.open(gif.path) as b:
        assert (a.format, a.mode, b.format, b.mode) == ("JPEG", "RGB", "JPEG", "RGB")
        assert near(b.getpixel((5, 5)), SECOND_COLORS[0]), "first frame of the animation"


def test_broken_image_proxy_raises_media_error_without_leftovers(tmp_path: Path) -> None:
    src = truncated_copy(MEDIA / "Wall.jpg", tmp_path / "cut.jpg", 20_000)
    with pytest.raises(MediaError, match="^cannot decode"):
        make_image_proxy(src, tmp_path / "cut_p")
    assert leftovers(tmp_path, keep={"cut.jpg"}) == []


def test_video_thumbnail_is_a_320_wide_jpeg(tmp_path: Path) -> None:
    result = make_thumbnail(MEDIA / "car-detection.mp4", tmp_path / "t.jpg", "video")
    with Image.open(result.path) as im:
        assert (im.format, im.size) == ("JPEG", (320, 180))
    assert (result.width, result.height, result.size_bytes) == (320, 180, result.path.stat().st_size)


def test_video_thumbnail_comes_from_the_middle(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "colours.mp4", seconds=3, fps=10, colour_per_second=True)
    with Image.open(make_thumbnail(src, tmp_path / "t.jpg", "video").path) as im:
        assert near(im.getpixel((160, 120)), SECOND_COLORS[1])


def test_frame_extraction_picks_the_requested_time(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "colours.mp4", seconds=4, fps=10, colour_per_second=True)
    for seconds, colour in [(0, SECOND_COLORS[0]), (2.5, SECOND_COLORS[2]), (99, SECOND_COLORS[3])]:
        result = extract_frame_jpeg(src, seconds, tmp_path / f"at{seconds}.jpg", width=160)
        with Image.open(result.path) as im:
            assert im.size == (160, 120)
            assert near(im.getpixel((80, 60)), colour), f"frame at {seconds}s"


def test_rotated_video_thumbnail_is_upright(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "phone.mp4", seconds=0.5, width=640, height=480, fps=10, rotation=90)
    with Image.open(make_thumbnail(src, tmp_path / "t.jpg", "video").path) as im:
        assert im.size == (320, 427)
        assert near(im.getpixel((10, 213)), TOP_COLOR) and near(im.getpixel((310, 213)), BOTTOM_COLOR)


def test_image_thumbnail_is_320_wide_and_upright(tmp_path: Path) -> None:
    wall = make_thumbnail(MEDIA / "Wall.jpg", tmp_path / "wall.jpg", "image")
    turned = make_thumbnail(make_test_jpeg(tmp_path / "p.jpg", size=(800, 600), exif={"orientation": 6}),
                            tmp_path / "turned.jpg", "image")
    assert (wall.width, wall.height) == (320, 240)
    assert (turned.width, turned.height) == (320, 427)
    with Image.open(turned.path) as im:
        assert im.size == (320, 427)


def test_image_thumbnail_of_a_small_or_transparent_image_is_not_upscaled(tmp_path: Path) -> None:
    small = make_thumbnail(make_test_png(tmp_path / "s.png", size=(100, 50)), tmp_path / "s.jpg", "image")
    with Image.open(small.path) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (100, 50))
        assert near(im.getpixel((90, 5)), (255, 255, 255)), "transparency is flattened onto white"


def test_thumbnail_of_a_broken_file_raises_media_error(tmp_path: Path) -> None:
    src = tmp_path / "notes.mov"
    src.write_text("hello\n" * 100)
    with pytest.raises(MediaError):
        make_thumbnail(src, tmp_path / "t.jpg", "video")
    with pytest.raises(MediaError):
        make_thumbnail(src, tmp_path / "t.jpg", "image")
    assert leftovers(tmp_path, keep={"notes.mov"}) == []
