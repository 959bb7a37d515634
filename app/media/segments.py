"""Segments of a long video: pieces of its proxy cut by remuxing at keyframes (no re-encoding).

A video longer than one segment (or whose proxy is too big for one model request) is analysed as
overlapping segments on a fixed grid: segment i nominally covers [i * (L - O), i * (L - O) + L) for segment
length L and overlap O, the last one ending with the video. A segment file starts at the last keyframe at or
before its nominal start and ends at the last keyframe at or before its nominal end (the video's end for
the last one), so every piece is whole GOPs copied as they are, consecutive pieces never leave a gap, and
each is a valid MP4 whose timestamps start at 0. Proxies place a keyframe every two seconds on the dot
(app/media/_transcode.py), so boundaries on whole even seconds are exact; elsewhere a piece starts up to
one keyframe interval early.

Pieces live beside the proxy (`<proxy folder>/segments/<L>s-<O>s/`) with a manifest of their bounds and
sizes and of the proxy they came from; later runs reuse them, and a changed proxy makes them again.
"""
from __future__ import annotations

import fcntl
import json
import logging
import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from . import _video
from ._files import atomic_target, check_readable
from .errors import MediaError

log = logging.getLogger(__name__)

SEGMENTS_FOLDER = "segments"
MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".lock"
MANIFEST_VERSION = 1
_EPSILON = 1e-3  # seconds: a keyframe this close to a boundary is on it


@dataclass(frozen=True)
class SegmentFile:
    """One piece on disk: where its time 0 and its end are in the proxy, and its size."""

    index: int
    path: Path
    start_seconds: float
    end_seconds: float
    size_bytes: int

    @property
    def duration_seconds(self) -> float:
        return self.end_seconds - self.start_seconds


def plan_bounds(duration: float, segment_seconds: float, overlap: float) -> list[tuple[float, float]]:
    """The nominal (start, end) of every segment of a video of `duration` seconds, in order."""
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError("segments need a known, positive duration")
    if not (segment_seconds > 0 and 0 <= overlap < segment_seconds):
        raise ValueError("segments need 0 <= overlap < segment length")
    step = segment_seconds - overlap
    bounds: list[tuple[float, float]] = []
    index = 0
    while True:
        start = index * step
        end = min(start + segment_seconds, duration)
        bounds.append((float(round(start, 3)), float(round(end, 3))))
        if end >= duration:
            return bounds
        index += 1


def segment_folder(proxy: Path, segment_seconds: int, overlap: int) -> Path:
    """Where the pieces of `proxy` for this segment length and overlap are kept."""
    return proxy.parent / SEGMENTS_FOLDER / f"{int(segment_seconds)}s-{int(overlap)}s"


def ensure_segments(proxy: Path, *, duration: float, segment_seconds: int, overlap: int) -> list[SegmentFile]:
    """Every piece of `proxy`, cut now unless the manifest shows they were cut from this very proxy."""
    proxy = Path(proxy)
    check_readable(proxy)
    bounds = plan_bounds(duration, segment_seconds, overlap)
    folder = segment_folder(proxy, segment_seconds, overlap)
    # One cutter at a time per folder (a submission's staging and on-demand tasks may want the same pieces at
    # once, in two threads or two processes): the second waits, then finds them made.
    with _locked(folder):
        return _ensure(proxy, folder, bounds, segment_seconds, overlap)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure(proxy: Path, folder: Path, bounds: list[tuple[float, float]], segment_seconds: int,
            overlap: int) -> list[SegmentFile]:
    stat = proxy.stat()
    source = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    manifest = _read_manifest(folder)
    wanted = [list(b) for b in bounds]
    if manifest is not None and manifest.get("proxy") == source and manifest.get("bounds") == wanted:
        pieces = [_from_manifest(folder, item) for item in manifest["segments"]]
        missing = [p for p in pieces if not _intact(p)]
        if not missing:
            return pieces
        cuts = [(p.index, _cut_of(manifest, p.index)) for p in missing]
    else:
        _clear(folder)
        cuts = list(enumerate(_cut_points(proxy, bounds)))
        manifest = {"version": MANIFEST_VERSION, "proxy": source, "bounds": wanted, "segments": []}
    by_index = {item["index"]: item for item in manifest["segments"]}
    for index, cut in cuts:
        path = folder / f"seg{index:03d}.mp4"
        start, end = _write_piece(proxy, path, cut)
        by_index[index] = {"index": index, "file": path.name, "start": start, "end": end,
                           "start_pts": cut[0], "end_pts": cut[1], "size": path.stat().st_size}
    manifest["segments"] = [by_index[i] for i in sorted(by_index)]
    _write_manifest(folder, manifest)
    log.info("%s: %d segment(s) of %ss with %ss overlap in %s", proxy.name, len(bounds), segment_seconds,
             overlap, folder)
    return [_from_manifest(folder, item) for item in manifest["segments"]]


def _from_manifest(folder: Path, item: dict[str, Any]) -> SegmentFile:
    return SegmentFile(int(item["index"]), folder / item["file"], float(item["start"]), float(item["end"]),
                       int(item["size"]))


def _cut_of(manifest: dict[str, Any], index: int) -> tuple[int, int | None]:
    item = next(i for i in manifest["segments"] if i["index"] == index)
    return int(item["start_pts"]), (int(item["end_pts"]) if item["end_pts"] is not None else None)


def _intact(piece: SegmentFile) -> bool:
    try:
        return piece.path.stat().st_size == piece.size_bytes
    except OSError:
        return False


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION or not isinstance(
            data.get("segments"), list):
        return None
    return data


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    with atomic_target(folder / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def _clear(folder: Path) -> None:
    """Pieces of an earlier proxy go before new ones are cut (the manifest first, so none is trusted)."""
    if not folder.is_dir():
        return
    (folder / MANIFEST_NAME).unlink(missing_ok=True)
    for old in folder.glob("seg*.mp4"):
        old.unlink(missing_ok=True)


def _cut_points(proxy: Path, bounds: list[tuple[float, float]]) -> list[tuple[int, int | None]]:
    """(start pts, end pts or None for the video's end) of every piece, in the video stream's time base."""
    with _video.open_input(proxy) as inp:
        stream = _video.require_video_stream(inp)
        cuts: list[tuple[int, int | None]] = []
        for number, (start, end) in enumerate(bounds):
            first = _keyframe_at_or_before(inp, stream, start)
            last = None if number == len(bounds) - 1 else _keyframe_at_or_before(inp, stream, end)
            if last is not None and last <= first:
                raise MediaError(f"the proxy has no keyframe between {start:.1f} s and {end:.1f} s, so it cannot "
                                 "be cut there; make the proxy again")
            cuts.append((first, last))
    return cuts


def _keyframe_at_or_before(inp: av.container.InputContainer, stream: av.video.stream.VideoStream,
                           seconds: float) -> int:
    """The pts of the last video keyframe at or before `seconds`, found from the container's index."""
    tb = stream.time_base
    limit = Fraction(seconds).limit_denominator(1_000_000) + Fraction(_EPSILON)
    for back in (0.0, 10.0, 60.0, None):
        target = 0 if back is None else max(0, int((seconds - back) / tb))
        inp.seek(target, stream=stream, backward=True, any_frame=False)
        best = None
        for packet in inp.demux(stream):
            if packet.pts is None or not packet.is_keyframe:
                continue
            if packet.pts * tb > limit:
                break
            best = packet.pts
        if best is not None:
            return best
    raise MediaError("the proxy has no keyframe to start a segment at")


def _write_piece(proxy: Path, dest: Path, cut: tuple[int, int | None]) -> tuple[float, float]:
    """Copy the packets of one piece into an MP4 at `dest` (atomically); (start, end) in proxy seconds."""
    start_pts, end_pts = cut
    with _video.open_input(proxy) as inp, atomic_target(dest) as tmp:
        video = _video.require_video_stream(inp)
        audio = next(iter(inp.streams.audio), None)
        try:
            out = av.open(str(tmp), mode="w", format="mp4", container_options={"movflags": "+faststart"})
        except av.FFmpegError as exc:
            raise MediaError(f"cannot write segment: {_video.av_reason(exc)}") from None
        try:
            end = _copy_packets(inp, out, video, audio, start_pts, end_pts)
            out.close()  # the trailer, then the index moved to the front (faststart)
        except BaseException:
            try:
                out.close()
            except Exception:  # noqa: BLE001 - the first error is the one that counts
                pass
            raise
    return round(float(start_pts * video.time_base), 3), end


def _copy_packets(inp: av.container.InputContainer, out: av.container.OutputContainer, video: Any, audio: Any,
                  start_pts: int, end_pts: int | None) -> float:
    """Remux video packets from the keyframe at start_pts up to (not including) the keyframe at end_pts,
    and the audio packets of the same span, rebased so the piece starts at 0; the end in proxy seconds."""
    vtb = video.time_base
    start_s = start_pts * vtb
    vout = out.add_stream_from_template(video)
    aout = out.add_stream_from_template(audio) if audio is not None else None
    atb = audio.time_base if audio is not None else None
    # A piece that starts at the very beginning keeps the encoder's priming audio (negative timestamps).
    a_offset = round(start_s / atb) if audio is not None and start_pts > 0 else 0
    a_end = math.ceil(end_pts * vtb / atb) if audio is not None and end_pts is not None else None
    inp.seek(start_pts, stream=video, backward=True, any_frame=False)
    started = video_done = False
    audio_done = audio is None
    last_video = start_pts
    for packet in inp.demux(*(s for s in (video, audio) if s is not None)):
        if packet.pts is None:
            continue  # the demuxer's end-of-stream packets
        if packet.stream.index == video.index:
            if not started:
                if packet.is_keyframe and packet.pts > start_pts:
                    raise MediaError(f"the proxy has no keyframe at {float(start_s):.3f} s any more")
                if packet.pts != start_pts or not packet.is_keyframe:
                    continue
                started = True
            if end_pts is not None and packet.is_keyframe and packet.pts >= end_pts:
                video_done = True
            if video_done:
                if audio_done:
                    break
                continue
            last_video = max(last_video, packet.pts + (packet.duration or 0))
            _rebase(packet, start_pts)
            packet.stream = vout
            out.mux(packet)
        elif aout is not None:
            if start_pts > 0 and packet.pts < a_offset:
                continue
            if a_end is not None and packet.pts >= a_end:
                audio_done = True
                if video_done:
                    break
                continue
            _rebase(packet, a_offset)
            packet.stream = aout
            out.mux(packet)
    if not started:
        raise MediaError(f"no video found from {float(start_s):.3f} s on")
    end_at = end_pts if end_pts is not None else last_video
    return round(float(end_at * vtb), 3)


def _rebase(packet: av.Packet, offset: int) -> None:
    packet.pts -= offset
    if packet.dts is not None:
        packet.dts -= offset


def remove_segments(proxy: Path) -> bool:
    """Delete every piece cut from `proxy` (when the proxy itself goes); True if there were any."""
    folder = Path(proxy).parent / SEGMENTS_FOLDER
    if not folder.is_dir():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True

