"""Token and cost estimates."""
from __future__ import annotations

import pytest

from app.nova.catalog import load_catalog
from app.nova.estimate import (
    cost_usd, estimate_tokens, image_tokens, output_tokens, prompt_tokens, video_tokens,
)


def test_video_costs_288_tokens_per_frame_at_one_frame_per_second():
    assert video_tokens(10) == 2880
    assert video_tokens(10.2) == 11 * 288  # a partial second still yields a sampled frame


def test_long_video_frames_stop_at_960_on_lite_and_pro():
    assert video_tokens(16 * 60) == 276_480
    assert video_tokens(3600) == 276_480
    assert video_tokens(3600, max_frames=load_catalog().get("premier").max_video_frames) == 3200 * 288


def test_video_estimate_needs_a_duration():
    with pytest.raises(ValueError):
        estimate_tokens("video", analysis_types=["summary"])


def test_ten_second_video_summary_is_video_plus_prompt_tokens():
    input_tokens, out = estimate_tokens("video", duration_seconds=10, analysis_types=["summary"])
    assert input_tokens == 2880 + prompt_tokens("summary", "video")
    assert 300 < prompt_tokens("summary", "video") < 2000
    assert out == output_tokens("summary")


def test_each_type_is_one_record_but_combined_is_one():
    two, _ = estimate_tokens("video", duration_seconds=10, analysis_types=["summary", "chapters"])
    combined, combined_out = estimate_tokens("video", duration_seconds=10, analysis_types=["combined"])
    assert two >= 2 * 2880
    assert 2880 < combined < two + 2880
    assert combined_out == sum(output_tokens(t) for t in
                               ("summary", "chapters", "elements", "waterfall_classification", "search_metadata"))


def test_image_tokens_follow_the_documented_examples():
    assert image_tokens(900, 450) == pytest.approx(800, rel=0.05)
    assert image_tokens(1300, 1300) == pytest.approx(2600, rel=0.05)
    assert image_tokens(900, 900) == pytest.approx(1300, rel=0.1)
    assert image_tokens(1800, 900) == pytest.approx(2400, rel=0.1)
    assert image_tokens(6000, 4000) == image_tokens(1300, 1300)  # large photos are scaled down
    assert image_tokens(None, None) == image_tokens(1300, 1300)


def test_image_estimate_counts_each_type_once_with_the_image():
    inp, out = estimate_tokens("image", width=900, height=450, analysis_types=["description", "metadata"])
    assert inp == 2 * image_tokens(900, 450) + prompt_tokens("description", "image") + prompt_tokens("metadata",
                                                                                                      "image")
    assert out == output_tokens("description") + output_tokens("metadata")


def test_summary_depth_changes_the_output_estimate():
    assert output_tokens("summary", "brief") < output_tokens("summary", "standard") < output_tokens("summary",
                                                                                                   "detailed")


def test_batch_costs_half_of_on_demand():
    pro = load_catalog().get("pro")
    on_demand = cost_usd(pro, 1_000_000, 100_000, batch=False)
    assert on_demand == pytest.approx(0.8 + 0.32)
    assert cost_usd(pro, 1_000_000, 100_000, batch=True) == pytest.approx(on_demand / 2)


def test_local_analyzer_is_free():
    assert cost_usd(load_catalog().get("local-analyzer"), 10_000, 10_000, batch=False) == 0.0
