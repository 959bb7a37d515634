"""Token and cost estimates that follow Nova's own accounting of video, image and text."""
from __future__ import annotations

import math
from functools import lru_cache

from app.nova.catalog import BATCH_PRICE_FACTOR, NOVA_V1_MAX_FRAMES, NovaModel
from app.nova.prompts import SYSTEM_PROMPT, FileContext, build_prompt, validate_types
from app.nova.schemas import COMBINED_PARTS
from app.nova.summary_merge import build_merge_prompt

# Video: resized to 672x672, sampled at 1 fps, about 288 tokens per frame; Lite/Pro keep a fixed
# 960 frames beyond 16 minutes, so long videos cost the same as 16 minutes
# (docs/bedrock-facts.md §3 Video sampling).
VIDEO_TOKENS_PER_FRAME = 288
VIDEO_FRAMES_PER_SECOND = 1.0

# Image: the Nova user guide ("Image to tokens conversion") lists 900x450 ~800, 900x900 ~1300,
# 1400x900 ~1800, 1800x900 ~2400 and 1300x1300 ~2600 tokens. A straight line through the smallest
# and largest samples, 233 + 1401 tokens per megapixel, stays within 11% of the others (slightly high).
# Nova scales images so a side reaches 896 px; we cap at the largest documented size (1300x1300).
IMAGE_BASE_TOKENS = 233
IMAGE_TOKENS_PER_MEGAPIXEL = 1401
IMAGE_MIN_LONG_SIDE = 896
IMAGE_MAX_PIXELS = 1300 * 1300

TEXT_CHARS_PER_TOKEN = 4

# Typical answer sizes in tokens (JSON included), for planning; the summary depends on the depth.
OUTPUT_TOKENS = {
    "description": 450,
    "chapters": 1500,
    "elements": 1100,
    "waterfall_classification": 550,
    "search_metadata": 500,
    "metadata": 500,
}
SUMMARY_OUTPUT_TOKENS = {"brief": 150, "standard": 650, "detailed": 1500}


def video_tokens(duration_seconds: float, *, max_frames: int = NOVA_V1_MAX_FRAMES) -> int:
    """Tokens for one video: 288 per frame sampled at 1 fps, up to max_frames frames."""
    if duration_seconds is None or not math.isfinite(duration_seconds) or duration_seconds < 0:
        raise ValueError("a video estimate needs its duration in seconds")
    frames = max(1, min(math.ceil(duration_seconds * VIDEO_FRAMES_PER_SECOND), max_frames))
    return frames * VIDEO_TOKENS_PER_FRAME


def image_tokens(width: int | None, height: int | None) -> int:
    """Tokens for one image from its size; unknown sizes count as the largest documented size."""
    if not width or not height or width <= 0 or height <= 0:
        return IMAGE_BASE_TOKENS + round(IMAGE_TOKENS_PER_MEGAPIXEL * IMAGE_MAX_PIXELS / 1e6)
    scale = max(1.0, IMAGE_MIN_LONG_SIDE / max(width, height))
    pixels = min(width * height * scale * scale, IMAGE_MAX_PIXELS)
    return IMAGE_BASE_TOKENS + round(IMAGE_TOKENS_PER_MEGAPIXEL * pixels / 1e6)


@lru_cache(maxsize=None)
def prompt_tokens(analysis_type: str, media_type: str) -> int:
    """Text tokens of the system prompt plus the user prompt for a typical file (about 4 chars a token)."""
    ctx = FileContext(name="2024-05-01 Customer Project walkthrough.mp4", folder="Customers/Customer Name/2024",
                      duration_seconds=600.0, media_type=media_type)
    chars = len(SYSTEM_PROMPT) + len(build_prompt(analysis_type, ctx, {}))
    return math.ceil(chars / TEXT_CHARS_PER_TOKEN)


def output_tokens(analysis_type: str, summary_depth: str = "standard") -> int:
    """Typical output tokens of one type; combined is the sum of its five parts."""
    if analysis_type == "combined":
        return sum(output_tokens(part, summary_depth) for part in COMBINED_PARTS)
    if analysis_type == "summary":
        return SUMMARY_OUTPUT_TOKENS.get(summary_depth, SUMMARY_OUTPUT_TOKENS["standard"])
    return OUTPUT_TOKENS[analysis_type]


def estimate_tokens(media_type: str, *, duration_seconds: float | None = None, width: int | None = None,
                    height: int | None = None, analysis_types: list[str], max_frames: int = NOVA_V1_MAX_FRAMES,
                    summary_depth: str = "standard") -> tuple[int, int]:
    """(input_tokens, output_tokens) for analysing one file: each type is one request with the media."""
    types = validate_types(media_type, analysis_types)
    if media_type == "video":
        media = video_tokens(duration_seconds, max_frames=max_frames)
    else:
        media = image_tokens(width, height)
    input_total = sum(media + prompt_tokens(t, media_type) for t in types)
    output_total = sum(output_tokens(t, summary_depth) for t in types)
    return input_total, output_total


# Types whose segments' answers are merged with one more, text-only call (app/nova/summary_merge.py).
MERGED_BY_MODEL = ("summary", "combined")
PART_OVERHEAD_TOKENS = 40  # a segment's JSON wrapping in the merge prompt


@lru_cache(maxsize=None)
def _merge_prompt_tokens() -> int:
    ctx = FileContext(name="2024-05-01 Customer Project walkthrough.mp4", folder="Customers/Customer Name/2024",
                      duration_seconds=7200.0)
    chars = len(SYSTEM_PROMPT) + len(build_merge_prompt(ctx, {}, [], count=8, missing=[]))
    return math.ceil(chars / TEXT_CHARS_PER_TOKEN)


def merge_call_tokens(analysis_type: str, segments: int, summary_depth: str = "standard") -> tuple[int, int]:
    """(input, output) tokens of the summary merge of a video analysed in `segments` segments: the prompt
    with every segment's summary in, one summary out; (0, 0) for a type merged without the model."""
    if analysis_type not in MERGED_BY_MODEL or segments < 2:
        return 0, 0
    summary = output_tokens("summary", summary_depth)
    return _merge_prompt_tokens() + segments * (summary + PART_OVERHEAD_TOKENS), summary


def cost_usd(model: NovaModel, input_tokens: int, output_tokens: int, *, batch: bool) -> float:
    """USD for the tokens at the model's on-demand price per 1k, halved for batch."""
    cost = (input_tokens / 1000 * model.price_input_per_1k + output_tokens / 1000 * model.price_output_per_1k)
    if batch:
        cost *= BATCH_PRICE_FACTOR
    return round(cost, 8)
