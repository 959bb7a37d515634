"""Probing and sniffing media by content: real samples, synthetic edge cases and broken files."""
from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from media_factory import make_test_audio, make_test_jpeg, make_test_png, make_test_video, truncated_copy

from app.media.probe import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaError, probe_file, sniff_media_type

MEDIA = Path(os.environ.get("MEDIA_DIR") or Path(__file__).resolve().parent / "media")

# From ATTRIBUTION.md: seconds, size, fps, audio.
SAMPLE_VIDEOS = {
    "car-detection.mp4": (30.2, 768, 432, 12.5, True),
    "bottle-detection.mp4": (39.9, 640, 360, 29.83, False),
    "one-by-one-person-detection.mp4": (139.4, 768, 432, 10.0, False),
}
SAMPLE_IMAGES = {"Bubbles.jpg": (615, 432), "Wall.jpg": (1280, 960), "faust_github.jpg": (800, 598),
                 "kiwi.jpg": (320, 320)}


@pytest.mark.parametrize("name", sorted(SAMPLE_VIDEOS))
def test_sample_videos_probe_to_their_documented_properties(name: str) -> None:
    seconds, width, height, fps, has_audio = SAMPLE_VIDEOS[name]
    info = probe_file(MEDIA / name)
    assert info.media_type == "video"
    assert (info.container, info.mime_type) == ("mp4", "video/mp4")
    assert info.duration_seconds == pytest.approx(seconds, abs=0.1)
    assert (info.width, info.height) == (width, height)
    assert info.fps == pytest.approx(fps, abs=0.01)
    assert info.video_codec == "h264"
    assert (info.audio_codec is not None) == has_audio
    assert (info.audio_channels == 2) if has_audio else info.audio_channels is None
    assert info.bitrate and info.bitrate > 10_000


def test_container_creation_time_becomes_created_at() -> None:
    info = probe_file(MEDIA / "car-detection.mp4")
    assert (info.created_at, info.created_source) == ("2018-04-19T22:46:00", "container")


@pytest.mark.parametrize("name", sorted(SAMPLE_IMAGES))
def test_sample_images_probe_to_their_documented_size(name: str) -> None:
    info = probe_file(MEDIA / name)
    assert (info.media_type, info.container, info.mime_type) == ("image", "jpeg", "image/jpeg")
    assert (info.width, info.height) == SAMPLE_IMAGES[name]
    assert info.duration_seconds is None and info.video_codec is None


def test_real_photo_exif_gives_date_camera_and_gps() -> None:
    info = probe_file(MEDIA / "faust_github.jpg")
    assert (info.created_at, info.created_source) == ("2011-03-27T20:46:06", "exif")
    assert info.camera == "Motorola Milestone"
    assert info.gps_latitude == pytest.approx(50.6456, abs=1e-3)
    assert info.gps_longitude == pytest.approx(3.0936, abs=1e-3)


def test_synthetic_exif_date_gps_camera_and_orientation_are_read(tmp_path: Path) -> None:
    path = make_test_jpeg(tmp_path / "photo.jpg", size=(400, 300), exif={
        "orientation": 6, "make": "Canon", "model": "EOS 5D", "datetime_original": "2021:06:01 12:34:56",
        "datetime": "2022:01:01 00:00:00", "gps": (-33.8688, -70.6693)})
    info = probe_file(path)
    assert (info.width, info.height) == (300, 400), "orientation 6 turns the picture a quarter"
    assert info.orientation == 6
    assert (info.created_at, info.created_source) == ("2021-06-01T12:34:56", "exif")
    assert info.camera == "Canon EOS 5D"
    assert info.gps_latitude == pytest.approx(-33.8688, abs=1e-4)
    assert info.gps_longitude == pytest.approx(-70.6693, abs=1e-4)


def test_camera_model_that_repeats_the_make_is_not_doubled(tmp_path: Path) -> None:
    path = make_test_jpeg(tmp_path / "p.jpg", exif={"make": "NIKON CORPORATION ", "model": "NIKON CORPORATION D90"})
    assert probe_file(path).camera == "NIKON CORPORATION D90"


def test_zero_gps_and_missing_dates_are_treated_as_unknown(tmp_path: Path) -> None:
    path = make_test_jpeg(tmp_path / "p.jpg", exif={"gps": (0.0, 0.0), "datetime": "0000:00:00 00:00:00"})
    stamp = datetime(2019, 3, 4, 5, 6, 7).timestamp()
    os.utime(path, (stamp, stamp))
    info = probe_file(path)
    assert (info.gps_latitude, info.gps_longitude) == (None, None)
    assert (info.created_at, info.created_source) == ("2019-03-04T05:06:07", "mtime")


def test_video_without_creation_time_falls_back_to_mtime(tmp_path: Path) -> None:
    path = make_test_video(tmp_path / "clip.mp4", seconds=0.4)
    stamp = datetime(2020, 1, 2, 3, 4, 5).timestamp()
    os.utime(path, (stamp, stamp))
    info = probe_file(path)
    assert (info.created_at, info.created_source) == ("2020-01-02T03:04:05", "mtime")


def test_video_creation_time_tag_is_read(tmp_path: Path) -> None:
    path = make_test_video(tmp_path / "clip.mp4", seconds=0.4,
                           metadata={"creation_time": "2020-05-06T07:08:09.000000Z"})
    info = probe_file(path)
    assert (info.created_at, info.created_source) == ("2020-05-06T07:08:09", "container")


def test_phone_video_tags_give_local_capture_time_place_and_camera(tmp_path: Path) -> None:
    path = make_test_video(tmp_path / "IMG_0001.MOV", seconds=0.3, metadata={
        "creation_time": "2023-05-01T10:00:05.000000Z",
        "com.apple.quicktime.creationdate": "2023-05-01T12:00:00+0200",
        "com.apple.quicktime.location.ISO6709": "+37.7858-122.4064+012.345/",
        "com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 13"})
    info = probe_file(path)
    assert (info.created_at, info.created_source) == ("2023-05-01T12:00:00", "container")
    assert (info.gps_latitude, info.gps_longitude) == (37.7858, -122.4064)
    assert info.camera == "Apple iPhone 13"


@pytest.mark.parametrize(("suffix", "codec", "container", "mime"), [
    (".mov", "libx264", "mov", "video/quicktime"),
    (".mkv", "libx264", "matroska", "video/x-matroska"),
    (".webm", "libvpx", "webm", "video/webm"),
    (".avi", "mpeg4", "avi", "video/x-msvideo"),
])
def test_other_containers_are_named_and_typed(tmp_path: Path, suffix: str, codec: str, container: str,
                                              mime: str) -> None:
    path = make_test_video(tmp_path / f"clip{suffix}", seconds=1, fps=10, codec=codec, audio_channels=1)
    info = probe_file(path)
    assert (info.container, info.mime_type) == (container, mime)
    # AVI pads the video track to the audio length with an empty frame, hence the loose bound.
    assert info.duration_seconds == pytest.approx(1.0, abs=0.15)
    assert info.audio_channels == 1


def test_rotated_phone_video_reports_upright_size(tmp_path: Path) -> None:
    path = make_test_video(tmp_path / "phone.mp4", seconds=0.4, width=320, height=240, rotation=-90)
    info = probe_file(path)
    assert (info.width, info.height, info.rotation) == (240, 320, 270)


def test_audio_channels_come_from_the_richest_audio_track(tmp_path: Path) -> None:
    path = make_test_video(tmp_path / "two_tracks.mp4", seconds=0.5, audio_channels=(1, 2))
    assert probe_file(path).audio_channels == 2


def test_zero_byte_file_is_rejected_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(MediaError) as caught:
        probe_file(path)
    assert caught.value.reason == "empty file (0 bytes)"
    assert sniff_media_type(path) is None


def test_text_file_renamed_to_mov_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "notes.mov"
    path.write_text("shopping list\n- milk\n- eggs\n" * 50)
    assert sniff_media_type(path) is None
    with pytest.raises(MediaError) as caught:
        probe_file(path)
    assert caught.value.reason == "unsupported format"


def test_missing_file_is_reported_not_found(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        probe_file(tmp_path / "gone.mp4")


def test_video_cut_to_2kb_cannot_be_decoded(tmp_path: Path) -> None:
    path = truncated_copy(MEDIA / "car-detection.mp4", tmp_path / "cut.mp4", 2048)
    with pytest.raises(MediaError) as caught:
        probe_file(path)
    assert caught.value.reason.startswith("cannot decode")
    assert str(tmp_path) not in caught.value.reason


def test_video_cut_in_half_without_its_index_cannot_be_decoded(tmp_path: Path) -> None:
    # bottle-detection keeps its 'moov' index at the end, so the first half is unreadable.
    source = MEDIA / "bottle-detection.mp4"
    path = truncated_copy(source, tmp_path / "half.mp4", source.stat().st_size // 2)
    with pytest.raises(MediaError, match="^cannot decode"):
        probe_file(path)


def test_video_cut_in_half_with_its_index_first_still_probes(tmp_path: Path) -> None:
    source = MEDIA / "car-detection.mp4"
    path = truncated_copy(source, tmp_path / "half.mp4", source.stat().st_size // 2)
    info = probe_file(path)
    assert (info.media_type, info.width, info.height) == ("video", 768, 432)


def test_truncated_jpeg_cannot_be_decoded(tmp_path: Path) -> None:
    source = MEDIA / "Wall.jpg"
    path = truncated_copy(source, tmp_path / "cut.jpg", source.stat().st_size // 3)
    with pytest.raises(MediaError, match="^cannot decode"):
        probe_file(path)


def test_sound_only_file_is_not_a_video(tmp_path: Path) -> None:
    path = make_test_audio(tmp_path / "voice.m4a", seconds=0.3)
    assert sniff_media_type(path) is None
    with pytest.raises(MediaError) as caught:
        probe_file(path)
    assert caught.value.reason == "not a video: no video stream"


def test_heic_without_a_decoder_is_reported_as_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200)
    assert sniff_media_type(path) == "image"
    with pytest.raises(MediaError) as caught:
        probe_file(path)
    assert caught.value.reason == "unsupported format: HEIC decoder not available"


def test_sniffing_ignores_misleading_extensions(tmp_path: Path) -> None:
    video_as_jpg = shutil.copy(MEDIA / "car-detection.mp4", tmp_path / "holiday.jpg")
    jpeg_as_mp4 = shutil.copy(MEDIA / "kiwi.jpg", tmp_path / "clip.mp4")
    png_without_suffix = make_test_png(tmp_path / "picture", transparent=True)
    assert sniff_media_type(video_as_jpg) == "video"
    assert sniff_media_type(jpeg_as_mp4) == "image"
    assert sniff_media_type(png_without_suffix) == "image"
    assert probe_file(video_as_jpg).media_type == "video"
    assert probe_file(jpeg_as_mp4).media_type == "image"
    assert probe_file(png_without_suffix).mime_type == "image/png"


def test_extension_sets_are_lowercase_without_dots() -> None:
    for ext in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS:
        assert ext == ext.lower() and not ext.startswith(".")
    assert {"mp4", "mov", "mkv", "3gp"} <= VIDEO_EXTENSIONS
    assert {"jpg", "png", "heic", "tif"} <= IMAGE_EXTENSIONS
