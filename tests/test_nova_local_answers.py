"""Every answer of the offline analyser to a real prompt passes the Nova response validator."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.inference.local.analyzer import LocalAnalyzer
from app.nova.parser import parse_model_output
from app.nova.prompts import IMAGE_TYPES, VIDEO_TYPES, FileContext
from app.nova.requests import build_request, image_media_s3, video_media_s3
from app.nova.schemas import COMBINED_PARTS
from conftest import SAMPLE_IMAGES, SAMPLE_MEDIA, SAMPLE_VIDEOS


@pytest.fixture(scope="module")
def analyzer() -> LocalAnalyzer:
    if not SAMPLE_MEDIA.is_dir():
        pytest.fail(f"sample media not found at {SAMPLE_MEDIA}; set MEDIA_DIR")
    return LocalAnalyzer(lambda uri: Path(SAMPLE_MEDIA, uri.split("/", 3)[3]))


@pytest.mark.parametrize("name", SAMPLE_VIDEOS)
@pytest.mark.parametrize("analysis_type", VIDEO_TYPES)
def test_local_video_answers_validate(analyzer, name, analysis_type):
    ctx = FileContext(name=name, folder="samples", duration_seconds=None)
    request = build_request(analysis_type, ctx, None, media=video_media_s3(f"s3://media/{name}", name))
    parsed = parse_model_output(analyzer.respond(request), analysis_type, media_type="video")
    expected = set(COMBINED_PARTS) if analysis_type == "combined" else {analysis_type}
    assert set(parsed.results) == expected
    assert not parsed.truncated


@pytest.mark.parametrize("name", SAMPLE_IMAGES)
@pytest.mark.parametrize("analysis_type", IMAGE_TYPES)
def test_local_image_answers_validate(analyzer, name, analysis_type):
    ctx = FileContext(name=name, folder="samples", media_type="image")
    request = build_request(analysis_type, ctx, None, media=image_media_s3(f"s3://media/{name}", "jpeg"))
    parsed = parse_model_output(analyzer.respond(request), analysis_type, media_type="image")
    assert set(parsed.results) == {analysis_type}
    assert parsed.results[analysis_type]
