"""Recognise media containers from their first bytes (a hint, confirmed by a decoder later)."""
from __future__ import annotations

from pathlib import Path

HEAD_BYTES = 64

# ISO-BMFF brands that mean a still image (HEIF/AVIF), not a movie, though the box layout is the same.
_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
                 b"mif1", b"msf1", b"avif", b"avis"}
_HEIF_BRANDS = _IMAGE_BRANDS - {b"avif", b"avis"}
# Top-level QuickTime atoms seen at offset 4 in old .mov files that have no 'ftyp'.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def read_head(path: Path) -> bytes:
    """First bytes of a file, enough for every signature below."""
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def is_heif(head: bytes) -> bool:
    """True for HEIC/HEIF stills (Pillow cannot open them without a plugin)."""
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def guess_kind(head: bytes) -> str | None:
    """'image', 'video' or None (unknown) from magic bytes alone."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a",
                        b"II*\x00", b"MM\x00*", b"BM")):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in _IMAGE_BRANDS else "video"
    if head[4:8] in _QT_ATOMS:
        return "video"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head.startswith((b"\x1a\x45\xdf\xa3", b"FLV\x01", _ASF_GUID, b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "video"
    return None


def is_webm(head: bytes) -> bool:
    """True when a Matroska file declares the 'webm' doctype in its EBML header."""
    return head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head
