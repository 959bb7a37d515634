"""Model catalog: which Nova models exist, what they accept and what they cost."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.errors import BadRequest

PRICES_FILE = Path(__file__).with_name("prices.json")
BATCH_PRICE_FACTOR = 0.5  # batch inference is billed at 50% of on-demand (docs/bedrock-facts.md §8 Prices)
GIB = 1024 ** 3

# Bedrock reads S3 video objects of at most 1 GB each (docs/bedrock-facts.md §2 Media input).
S3_VIDEO_MAX_BYTES = 1 * GIB

# Nova Lite/Pro sample 1 fps up to 16 min, then a fixed 960 frames; AWS recommends < 1 h for
# low-motion video (docs/bedrock-facts.md §3 Video sampling). One hour is therefore the longest window
# we send in one request.
NOVA_V1_MAX_VIDEO_SECONDS = 3600.0
NOVA_V1_MAX_FRAMES = 960
# Premier samples 1 fps up to 3,200 frames (docs/bedrock-facts.md §3 Video sampling); 3,200 frames x 288
# tokens fits its 1M context.
PREMIER_MAX_VIDEO_SECONDS = 3200.0
PREMIER_MAX_FRAMES = 3200
# Nova 2 Lite sampling is not documented (docs/bedrock-facts.md §3, [UNCERTAIN]: community notes say 1 fps).
# Assume 1 fps without a cap and stay inside its 1M context: 3,200 x 288 = 921,600 tokens.
NOVA2_LITE_MAX_VIDEO_SECONDS = 3200.0
NOVA2_LITE_MAX_FRAMES = 3200

BACKENDS = ("local", "bedrock")
LIFECYCLES = ("active", "legacy")


class UnknownModel(BadRequest):
    """A model key that is not in the catalog."""

    code = "unknown_model"


@dataclass(frozen=True)
class NovaModel:
    """One model the app can analyse media with."""

    key: str
    name: str
    model_id: str
    inference_profile_id: str | None
    price_input_per_1k: float
    price_output_per_1k: float
    video: bool
    image: bool
    batch: bool
    lifecycle: str
    backend: str
    max_video_seconds: float
    max_object_bytes: int
    max_video_frames: int
    max_output_tokens: int
    context_tokens: int


def request_model_id(model: NovaModel) -> str:
    """The id to pass as modelId: the inference profile whenever the model has one.

    Rule: prefer the cross-region inference profile. Nova 2 Lite and Premier can only be invoked
    through one, batch for Premier is profile-only, and bare Lite/Pro ids fail on demand outside
    us-east-1 (docs/bedrock-facts.md §7 Models). Models without a profile (the local analyser) use
    their model id.
    """
    return model.inference_profile_id or model.model_id


def _model(key: str, name: str, model_id: str, profile: str | None, *, lifecycle: str = "active",
           backend: str = "bedrock", video_seconds: float, video_frames: int, max_output_tokens: int,
           context_tokens: int) -> NovaModel:
    """A model that takes video and images, on demand and in batch; load_catalog fills in its prices."""
    return NovaModel(
        key=key, name=name, model_id=model_id, inference_profile_id=profile,
        price_input_per_1k=0.0, price_output_per_1k=0.0, video=True, image=True, batch=True,
        lifecycle=lifecycle, backend=backend, max_video_seconds=video_seconds, max_object_bytes=S3_VIDEO_MAX_BYTES,
        max_video_frames=video_frames, max_output_tokens=max_output_tokens, context_tokens=context_tokens,
    )


# Conservative for Nova 2 Lite: docs/bedrock-facts.md §7 does not state its output limit.
_NOVA2_LITE_LIMITS = {"video_seconds": NOVA2_LITE_MAX_VIDEO_SECONDS, "video_frames": NOVA2_LITE_MAX_FRAMES,
                      "max_output_tokens": 10000, "context_tokens": 1_000_000}
_NOVA_V1_LIMITS = {"video_seconds": NOVA_V1_MAX_VIDEO_SECONDS, "video_frames": NOVA_V1_MAX_FRAMES,
                   "max_output_tokens": 5000, "context_tokens": 300_000}
_PREMIER_LIMITS = {"video_seconds": PREMIER_MAX_VIDEO_SECONDS, "video_frames": PREMIER_MAX_FRAMES,
                   "max_output_tokens": 10000, "context_tokens": 1_000_000}

_BASE_MODELS: tuple[NovaModel, ...] = (
    _model("lite", "Nova 2 Lite", "amazon.nova-2-lite-v1:0", "us.amazon.nova-2-lite-v1:0", **_NOVA2_LITE_LIMITS),
    _model("lite-v1", "Nova Lite", "amazon.nova-lite-v1:0", "us.amazon.nova-lite-v1:0", **_NOVA_V1_LIMITS),
    _model("pro", "Nova Pro", "amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0", **_NOVA_V1_LIMITS),
    # Model card: lifecycle Legacy, end of life 2026-09-14 (docs/bedrock-facts.md §7 Models).
    _model("premier", "Nova Premier", "amazon.nova-premier-v1:0", "us.amazon.nova-premier-v1:0",
           lifecycle="legacy", **_PREMIER_LIMITS),
    # Same limits as the Bedrock default so planning and chunking behave the same offline.
    _model("local-analyzer", "Local analyzer (offline, not Nova)", "local-analyzer", None,
           backend="local", **_NOVA2_LITE_LIMITS),
)

_DEFAULT_KEYS = {"bedrock": "lite", "local": "local-analyzer"}


class Catalog:
    """The models known to the app, with prices applied."""

    batch_price_factor = BATCH_PRICE_FACTOR

    def __init__(self, models: list[NovaModel]):
        self._models = {m.key: m for m in models}

    def get(self, key: str) -> NovaModel:
        """The model with this key, or UnknownModel naming the valid keys."""
        try:
            return self._models[key]
        except (KeyError, TypeError):
            valid = ", ".join(self._models)
            raise UnknownModel(
                f"Unknown model {key!r}; valid models: {valid}", details={"valid": list(self._models)}
            ) from None

    def all(self) -> list[NovaModel]:
        """Every model, in catalog order."""
        return list(self._models.values())

    def keys(self) -> list[str]:
        """Every model key, in catalog order."""
        return list(self._models)

    def default_key(self, inference_backend: str) -> str:
        """The model used when the caller names none, for the configured backend."""
        if inference_backend not in _DEFAULT_KEYS:
            raise ValueError(f"inference backend must be one of {BACKENDS}, not {inference_backend!r}")
        return _DEFAULT_KEYS[inference_backend]


def load_catalog(prices_file: Path | None = None) -> Catalog:
    """Build the catalog from the bundled prices, optionally overridden by a JSON file."""
    prices = _read_prices(PRICES_FILE, partial=False)
    if prices_file:
        for key, override in _read_prices(Path(prices_file), partial=True).items():
            prices[key] = {**prices[key], **override}
    return Catalog([
        replace(m, price_input_per_1k=prices[m.key]["input_per_1k"],
                price_output_per_1k=prices[m.key]["output_per_1k"])
        for m in _BASE_MODELS
    ])


def _read_prices(path: Path, *, partial: bool) -> dict[str, dict[str, float]]:
    """Read and check a prices file; partial files may name only some models and prices."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"Prices file {path}: cannot be read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"Prices file {path}: not valid JSON ({exc})") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ValueError(f'Prices file {path}: expected an object with a "models" object')
    known = {m.key for m in _BASE_MODELS}
    prices: dict[str, dict[str, float]] = {}
    for key, entry in models.items():
        if key not in known:
            raise ValueError(f"Prices file {path}: unknown model {key!r} (valid: {', '.join(sorted(known))})")
        if not isinstance(entry, dict):
            raise ValueError(f"Prices file {path}: model {key!r} must be an object")
        prices[key] = {}
        for field in ("input_per_1k", "output_per_1k"):
            if field not in entry:
                if partial:
                    continue
                raise ValueError(f"Prices file {path}: model {key!r} lacks {field!r}")
            prices[key][field] = _price(path, key, field, entry[field])
        extra = set(entry) - {"input_per_1k", "output_per_1k"}
        if extra:
            raise ValueError(f"Prices file {path}: model {key!r} has unknown fields {sorted(extra)}")
    if not partial and set(prices) != known:
        raise ValueError(f"Prices file {path}: missing models {sorted(known - set(prices))}")
    return prices


def _price(path: Path, key: str, field: str, value: Any) -> float:
    """One price: a finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Prices file {path}: {key}.{field} must be a non-negative number, not {value!r}")
    return float(value)
