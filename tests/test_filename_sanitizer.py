"""The staging-name sanitizer: only [A-Za-z0-9._-], unique per file, an extension always kept."""
import re

import pytest

from app.inference.base import validate_batch_s3_uri
from app.utils.filename_sanitizer import sanitize_filename

SAFE = re.compile(r"[A-Za-z0-9._-]+")


@pytest.mark.parametrize("name, expected", [
    ("Video Nov 14 2025, 10 02 14 AM_22153_720p15.mov", "Video_Nov_14_2025_10_02_14_AM_22153_720p15_7.mov"),
    ("my clip.mp4", "my_clip_7.mp4"),
    ("a,b,c.mp4", "abc_7.mp4"),
    ("take (2) [final] {x}.mp4", "take_2_final_x_7.mp4"),
    ("it's \"quoted\".mp4", "its_quoted_7.mp4"),
    ("#1 100% a+b=c @home.mp4", "1_100_abc_home_7.mp4"),
    ("Café Crème déjà vu.mp4", "Cafe_Creme_deja_vu_7.mp4"),
    ("party 🎉🎬 time.mp4", "party_time_7.mp4"),
    ("東京の夜 night.mp4", "night_7.mp4"),
    ("../../etc/passwd.mp4", "passwd_7.mp4"),
    ("..\\..\\windows\\evil.mp4", "evil_7.mp4"),
    ("a   b___c...d---e.mp4", "a_b_c.d-e_7.mp4"),
    ("--leading and trailing__.mp4", "leading_and_trailing_7.mp4"),
    ("clip.MP4", "clip_7.mp4"),
])
def test_hostile_names_become_safe_and_readable(name, expected):
    assert sanitize_filename(name, 7) == expected


@pytest.mark.parametrize("name", ["🎬🎉.mp4", "東京.mp4", ",,,.mp4", "...", "", "../", "#%+=@"])
def test_a_name_that_sanitizes_to_nothing_still_gets_a_stem(name):
    result = sanitize_filename(name, 42, extension=".mp4")
    assert result == "file_42.mp4"


def test_the_extension_is_always_kept_and_can_be_replaced():
    assert sanitize_filename("no extension", 3) == "no_extension_3"
    assert sanitize_filename("no extension", 3, extension="mp4") == "no_extension_3.mp4"
    assert sanitize_filename("holiday.mov", 3, extension=".mp4") == "holiday_3.mp4"
    assert sanitize_filename("photo.jpeg🎉", 3) == "photo_3.jpeg"
    assert sanitize_filename(".hidden", 3) == "hidden_3"


def test_two_hundred_character_names_are_capped_with_id_and_extension_intact():
    long_name = "x" * 120 + " " + "é" * 79 + ".mp4"
    assert len(long_name) == 204
    result = sanitize_filename(long_name, 123456, max_length=100)
    assert len(result) <= 100
    assert result.endswith("_123456.mp4")
    assert SAFE.fullmatch(result)


def test_the_file_id_keeps_equal_names_apart():
    assert sanitize_filename("same, name.mp4", 1) != sanitize_filename("same; name.mp4", 2)
    assert sanitize_filename("🎬.mp4", 1) != sanitize_filename("🎉.mp4", 2)


@pytest.mark.parametrize("name", [
    "spaces in name.mp4", "comma,name.mp4", "paren(1).mp4", "quote'\".mp4", "hash#.mp4", "pct%20.mp4",
    "plus+.mp4", "eq=.mp4", "at@.mp4", "emoji😀.mp4", "中文字幕.mp4", "../up.mp4", "🎬", "x" * 200 + ".mp4",
])
def test_every_result_is_valid_in_a_bedrock_batch_uri(name):
    result = sanitize_filename(name, 99)
    assert SAFE.fullmatch(result), result
    assert not result.startswith((".", "-", "_"))
    validate_batch_s3_uri(f"s3://media-library/nova_batch/job_20260101_120000_001/files/{result}")


def test_max_length_must_leave_room_for_a_name():
    with pytest.raises(ValueError):
        sanitize_filename("a.mp4", 123456789, max_length=12)
