"""Token accounting that follows Amazon Nova's published rules of thumb."""
from __future__ import annotations

import math

VIDEO_TOKENS_PER_FRAME = 288
MAX_VIDEO_FRAMES = 960  # Nova samples 1 frame per second up to 960 frames, then spreads 960 frames
MIN_IMAGE_LONG_SIDE = 896  # Nova upscales smaller images before tokenising them
# Nova user guide, "Image to tokens conversion": resolution after rescaling -> approximate tokens
# (900x450 ~800, 900x900 ~1300, 1400x900 ~1800, 1800x900 ~2400, 1300x1300 ~2600). Linear in
# between, proportional below the first row, flat above the last.
IMAGE_TOKEN_TABLE = ((405_000, 800), (810_000, 1300), (1_260_000, 1800), (1_620_000, 2400), (1_690_000, 2600))
CHARS_PER_TOKEN = 4


def video_tokens(duration_seconds: float) -> int:
    """Input tokens for a video: 288 per sampled frame, 1 fps, at most 960 frames."""
    frames = min(max(1, math.ceil(duration_seconds - 1e-9)), MAX_VIDEO_FRAMES)
    return VIDEO_TOKENS_PER_FRAME * frames


def image_tokens(width: int, height: int) -> int:
    """Approximate input tokens for an image of width x height pixels."""
    long_side = max(width, height, 1)
    scale = max(1.0, MIN_IMAGE_LONG_SIDE / long_side)
    pixels = width * height * scale * scale
    low_pixels, low_tokens = 0, 0
    for high_pixels, high_tokens in IMAGE_TOKEN_TABLE:
        if pixels <= high_pixels:
            share = (pixels - low_pixels) / (high_pixels - low_pixels)
            return max(1, round(low_tokens + share * (high_tokens - low_tokens)))
        low_pixels, low_tokens = high_pixels, high_tokens
    return IMAGE_TOKEN_TABLE[-1][1]


def text_tokens(text: str) -> int:
    """Tokens of plain text at about four characters per token."""
    return len(text) // CHARS_PER_TOKEN
