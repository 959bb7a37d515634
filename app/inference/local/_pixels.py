"""Pixel statistics on tiny RGB thumbnails, in plain Python and Pillow (no numpy)."""
from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence

from PIL import Image, ImageChops, ImageStat

HIST_LEVELS = 4  # per channel, so 64 bins: coarse enough to ignore noise, fine enough to see a cut
DARK_LUMA = 70.0
BRIGHT_LUMA = 170.0

# Hue names by upper bound in degrees; checked in order.
_HUE_NAMES = ((15, "red"), (40, "orange"), (70, "yellow"), (160, "green"), (200, "cyan"),
              (255, "blue"), (290, "purple"), (335, "pink"), (360, "red"))


def luma(image: Image.Image) -> float:
    """Mean Rec.601 luma (0-255) of an RGB image."""
    return ImageStat.Stat(image.convert("L")).mean[0]


def mean_rgb(image: Image.Image) -> tuple[float, float, float]:
    """Mean red, green and blue of an RGB image."""
    r, g, b = ImageStat.Stat(image).mean[:3]
    return (r, g, b)


def histogram(rgb: bytes) -> tuple[int, ...]:
    """64-bin joint colour histogram of packed rgb24 bytes."""
    bins = [0] * HIST_LEVELS ** 3
    for r, g, b in zip(rgb[0::3], rgb[1::3], rgb[2::3]):
        bins[(r >> 6) << 4 | (g >> 6) << 2 | (b >> 6)] += 1
    return tuple(bins)


def histogram_distance(a: Sequence[int], b: Sequence[int]) -> float:
    """Share of pixels (0..1) that moved to another colour bin between two histograms."""
    total = sum(a) or 1
    return sum(abs(x - y) for x, y in zip(a, b)) / (2 * total)


def mean_abs_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute per-channel difference (0-255) of two same-sized RGB images."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean[:3]) / 3


def dominant_colors(thumbs: Iterable[bytes], count: int = 3) -> list[str]:
    """Top quantised colours of packed rgb24 thumbnails, as '#rrggbb' bucket means."""
    # 4 levels per channel merges shades of one surface; the bucket mean keeps its real tone.
    sums: dict[int, list[int]] = {}
    for rgb in thumbs:
        for r, g, b in zip(rgb[0::3], rgb[1::3], rgb[2::3]):
            acc = sums.setdefault((r >> 6) << 4 | (g >> 6) << 2 | (b >> 6), [0, 0, 0, 0])
            acc[0] += 1
            acc[1] += r
            acc[2] += g
            acc[3] += b
    top = sorted(sums.items(), key=lambda item: (-item[1][0], item[0]))[:count]
    return [f"#{round(r / n):02x}{round(g / n):02x}{round(b / n):02x}" for _, (n, r, g, b) in top]


def color_name(hex_color: str) -> str:
    """A plain English name for a '#rrggbb' colour."""
    r, g, b = (int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    hue, lightness, _ = colorsys.rgb_to_hls(r, g, b)
    # Chroma rather than HLS saturation, which calls near-white and near-black tints "saturated".
    chroma = max(r, g, b) - min(r, g, b)
    if lightness < 0.14:
        return "black"
    if lightness > 0.9 and chroma < 0.15:
        return "white"
    if chroma < 0.12:
        return "grey"
    degrees = hue * 360
    name = next(label for bound, label in _HUE_NAMES if degrees < bound or bound == 360)
    if lightness < 0.42 and name in ("orange", "red"):
        return "brown"
    if lightness < 0.35 and name == "yellow":
        return "olive"
    return name


def brightness_label(mean_luma: float) -> str:
    """'dark', 'normal' or 'bright' for a mean luma."""
    if mean_luma < DARK_LUMA:
        return "dark"
    if mean_luma > BRIGHT_LUMA:
        return "bright"
    return "normal"


def colorfulness(rgb: bytes) -> float:
    """Mean chroma (max minus min channel, 0-255) of packed rgb24 bytes."""
    # Unlike HSV saturation this stays low for dark, noisy pixels.
    count = len(rgb) // 3 or 1
    return sum(max(px) - min(px) for px in zip(rgb[0::3], rgb[1::3], rgb[2::3])) / count
