"""Section names, vocabularies and limits of docs/analysis-contract.md, and the error for output that breaks it."""
from __future__ import annotations

MEDIA_TYPES = ("video", "image")
COMBINED_PARTS = ("summary", "chapters", "elements", "waterfall_classification", "search_metadata")
DEPTHS = ("brief", "standard", "detailed")

WATERFALL_VOCAB: dict[str, tuple[str, ...]] = {
    "family": ("Custom Natural Stone", "Custom Formal", "Genesis Natural", "Genesis Formal", "Unknown"),
    "tier_level": ("Classic (Small)", "Deluxe (Medium)", "Ultimate (Large)", "Unknown"),
    "functional_type": ("Waterfall", "Waterfall with Slide", "Grotto", "Grotto with Slide", "Unknown"),
    "sub_type": ("One-Tier", "Two-Tier", "Two-Tier Split", "Three-Tier", "Cantilever", "Unknown"),
}
WATERFALL_DIMENSIONS = tuple(WATERFALL_VOCAB)
WATERFALL_MIN_CONFIDENCE = 0.70
CONTENT_TYPES = ("product_overview", "installation_tutorial", "building_demonstration", "troubleshooting",
                 "comparison", "review", "other")
SKILL_LEVELS = ("beginner", "intermediate", "advanced", "professional", "unknown")
DATE_SOURCES = ("exif", "container", "path", "filename", "visual", "transcript", "unknown")
BRIGHTNESS = ("dark", "normal", "bright")
MOTION = ("static", "low", "medium", "high")

# Model output is hostile: every string and list has a ceiling.
MAX_TEXT = 20_000
MAX_PARAGRAPH = 2_000
MAX_LINE = 300
MAX_ITEMS = 50
MAX_KEY_POINTS = 20
MAX_CHAPTERS = 200
MAX_TIME_RANGES = 50
MAX_COLORS = 10
MAX_PEOPLE = 100_000


class ModelOutputError(Exception):
    """Model output that cannot be turned into a result; code says why."""

    def __init__(self, code: str, message: str, *, raw_text: str | None = None, stop_reason: str | None = None,
                 input_tokens: int = 0, output_tokens: int = 0):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # Tokens were billed even when the output is unusable, so callers can still record cost.
        self.raw_text = raw_text
        self.stop_reason = stop_reason
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
