"""What the offline embedder measures, as numbers: hashed words for text, a colour and layout descriptor for
pictures. Deterministic: a stable hash (BLAKE2b, not Python's salted hash()) and a projection drawn once from
a fixed seed.

A vector has two blocks: words (the first 3/4 of the dimensions) and pixels (the rest). Text fills the word
block. An image or a video frame fills the pixel block and adds the names of its dominant colours and its
brightness to the word block, so a text query such as "green" reaches pictures that really are green, and
pictures are compared mostly by how they look.
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache

import numpy as np
from PIL import Image

from app.inference.local import _pixels

SEED = 20261204
GRID = 4  # layout cells per side
HIST_LEVELS = 4  # per channel: 64 colour bins
RAW_PIXEL_FEATURES = HIST_LEVELS ** 3 + GRID * GRID * 3 + GRID * GRID
PICTURE_WORD_WEIGHT = 0.35  # how much of a picture's vector its colour words are
_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# Words that say nothing about content (English function words and file-name noise).
STOP_WORDS = frozenset("""
a an and are as at be by for from has have in into is it its of on or that the this to was were with
will not no over under than then there these those which who whom while also only very can may
mp4 mov mkv avi jpg jpeg png gif webp heic img dsc vid
""".split())


def words(text: str) -> list[str]:
    """Lower-case content words: camelCase and snake_case split, plurals folded, function words dropped."""
    normal = unicodedata.normalize("NFKC", text)
    tokens = []
    for raw in _WORD.findall(_CAMEL.sub(" ", normal)):
        token = raw.lower()
        if token in STOP_WORDS or (len(token) < 2 and not token.isdigit()):
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]
        tokens.append(token)
    return tokens


def word_block(text: str, size: int) -> np.ndarray:
    """Signed feature hashing of the words with sublinear term frequency (1 + log tf)."""
    block = np.zeros(size, dtype=np.float32)
    for token, count in Counter(words(text)).items():
        digest = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "big")
        block[digest % size] += (1.0 if digest >> 63 else -1.0) * (1.0 + math.log(count))
    return block


def pixel_features(picture: Image.Image) -> np.ndarray:
    """RAW_PIXEL_FEATURES numbers: colour histogram (square-rooted shares), mean colour and contrast per cell."""
    small = np.asarray(picture.convert("RGB").resize((GRID * 8, GRID * 8), Image.Resampling.BOX), dtype=np.float32)
    levels = (small // (256 // HIST_LEVELS)).astype(np.int64)
    bins = levels[..., 0] * HIST_LEVELS * HIST_LEVELS + levels[..., 1] * HIST_LEVELS + levels[..., 2]
    hist = np.bincount(bins.ravel(), minlength=HIST_LEVELS ** 3).astype(np.float32)
    hist = np.sqrt(hist / hist.sum())
    cells = small.reshape(GRID, 8, GRID, 8, 3)
    means = (cells.mean(axis=(1, 3)) - 128.0) / 128.0
    luma = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    contrast = luma.reshape(GRID, 8, GRID, 8).std(axis=(1, 3)) / 64.0
    return np.concatenate([hist, means.ravel(), contrast.ravel()]).astype(np.float32)


def picture_words(picture: Image.Image) -> str:
    """Colour and brightness words for a picture, as the local analyser names them."""
    rgb = picture.convert("RGB").resize((32, 32), Image.Resampling.BOX)
    names = [_pixels.color_name(c) for c in _pixels.dominant_colors([rgb.tobytes()], 3)]
    luma = _pixels.luma(rgb)
    light = "dark" if luma < _pixels.DARK_LUMA else "bright" if luma > _pixels.BRIGHT_LUMA else ""
    return " ".join([*names, light])


@lru_cache(maxsize=8)
def _projection(size: int) -> np.ndarray:
    rng = np.random.default_rng(SEED + size)
    return (rng.standard_normal((RAW_PIXEL_FEATURES, size)) / math.sqrt(size)).astype(np.float32)


def blocks(dimension: int) -> tuple[int, int]:
    """Sizes of the word block and the pixel block of a vector."""
    pixels = dimension // 4
    return dimension - pixels, pixels


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def text_vector(text: str, dimension: int) -> np.ndarray:
    word_size, pixel_size = blocks(dimension)
    return unit(np.concatenate([unit(word_block(text, word_size)), np.zeros(pixel_size, dtype=np.float32)]))


def picture_vector(pixels: np.ndarray, described_as: str, dimension: int) -> np.ndarray:
    """A picture's vector from its (averaged) pixel features and the words that describe it."""
    word_size, pixel_size = blocks(dimension)
    look = unit(pixels @ _projection(pixel_size))
    said = unit(word_block(described_as, word_size))
    weight = PICTURE_WORD_WEIGHT if said.any() else 0.0
    return unit(np.concatenate([weight * said, math.sqrt(1 - weight * weight) * look]))
