"""Segments of long videos: cutting a 2-hour proxy into Nova Lite's 16-minute segments (time, bytes written, and
proof that it is a remux: every piece's video packets are the proxy's own bytes), reusing them, and merging 500
segment answers into one result (issue 14). Prints the figures for BENCHMARKS.md.

The 2-hour proxy is the proxy of one-by-one-person-detection.mp4 (768x432, 10 fps, made as the app makes every
proxy: a keyframe every 2 s) looped 52 times by remuxing, so it has a real proxy's bitrate without hours of
encoding.
"""
from __future__ import annotations

import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import av  # noqa: E402

from app.inference.local import LocalAnalyzer  # noqa: E402
from app.media.proxies import make_video_proxy  # noqa: E402
from app.media.segments import ensure_segments, segment_folder  # noqa: E402
from app.nova.merge import merge_result  # noqa: E402
from app.nova.merge_times import SegmentAnswer  # noqa: E402
from app.nova.prompts import FileContext  # noqa: E402
from app.nova.summary_merge import build_merge_request, summary_parts  # noqa: E402
from long_media import loop_clip  # noqa: E402

SAMPLE = "one-by-one-person-detection.mp4"
LOOPS = 52  # 52 x 139.4 s = 2 h 0 min 49 s
SEGMENT_SECONDS, OVERLAP = 960, 10  # Nova Lite/Pro: 1 fps up to 16 minutes
ANSWERS = 500


def media_dir() -> Path:
    return Path(os.environ.get("MEDIA_DIR") or REPO / "tests" / "media")


def video_digest(path: Path, start: float = 0.0, end: float = float("inf")) -> tuple[int, str]:
    """(packets, sha256 of their bytes) of the video packets whose time is in [start, end), in decode order."""
    digest, count = hashlib.sha256(), 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            seconds = float(packet.pts * packet.time_base)
            if seconds >= end - 1e-6:
                if packet.is_keyframe:
                    break
                continue
            if seconds >= start - 1e-6:
                digest.update(bytes(packet))
                count += 1
    return count, digest.hexdigest()


def bench_cut(work: Path) -> None:
    proxy = make_video_proxy(media_dir() / SAMPLE, work / "clip" / "proxy.mp4")
    long_proxy = loop_clip(proxy.path, work / "long" / "proxy.mp4", LOOPS)
    with av.open(str(long_proxy)) as container:
        duration = container.duration / 1e6
    size = long_proxy.stat().st_size
    print(f"proxy of {SAMPLE}: {proxy.size_bytes / 1e6:.2f} MB (keyframe every 2 s); looped x{LOOPS}: "
          f"{duration / 3600:.2f} h, {size / 1e6:.1f} MB")

    start = time.perf_counter()
    pieces = ensure_segments(long_proxy, duration=duration, segment_seconds=SEGMENT_SECONDS, overlap=OVERLAP)
    cut = time.perf_counter() - start
    written = sum(p.size_bytes for p in pieces)
    print(f"cut into {len(pieces)} segments of {SEGMENT_SECONDS} s ({OVERLAP} s overlap) in {cut:.2f} s: "
          f"{written / 1e6:.1f} MB written ({written / size:.3f} x the proxy; the overlaps alone are "
          f"{1 + (len(pieces) - 1) * OVERLAP / duration:.3f} x), {size / 1e6 / cut:.0f} MB/s of proxy")

    start = time.perf_counter()
    again = ensure_segments(long_proxy, duration=duration, segment_seconds=SEGMENT_SECONDS, overlap=OVERLAP)
    print(f"reused by a later run (manifest checked): {(time.perf_counter() - start) * 1000:.1f} ms")
    assert again == pieces

    start = time.perf_counter()
    same = 0
    for piece in pieces:
        if video_digest(piece.path) == video_digest(long_proxy, piece.start_seconds, piece.end_seconds):
            same += 1
    print(f"remux check: {same} of {len(pieces)} pieces hold exactly the proxy's video packets "
          f"(checked in {time.perf_counter() - start:.1f} s)")
    print(f"pieces in {segment_folder(long_proxy, SEGMENT_SECONDS, OVERLAP)}")


def answer(index: int, rng: random.Random) -> SegmentAnswer:
    """A combined answer as big as a real one: 5 chapters, 12 items with ranges, classification, metadata."""
    chapters = [{"title": f"Step {index}.{n}", "start_seconds": n * 192.0, "end_seconds": (n + 1) * 192.0,
                 "summary": "Two or three sentences about what happens here. " * 2,
                 "key_points": [f"point {index}.{n}.{k}" for k in range(4)]} for n in range(5)]
    ranges = [{"start_seconds": t, "end_seconds": t + 20.0} for t in sorted(rng.sample(range(0, 940, 10), 6))]
    equipment = [{"name": f"tool {rng.randrange(60)}", "category": "tool", "confidence": rng.random(),
                  "time_ranges": ranges} for _ in range(8)]
    topics = [{"name": f"topic {rng.randrange(30)}", "description": "A topic.", "time_ranges": ranges}
              for _ in range(4)]
    dims = {"family": rng.choice(["Unknown", "Genesis Natural"]), "tier_level": "Unknown",
            "functional_type": "Waterfall", "sub_type": "Unknown"}
    return SegmentAnswer(index, index * 950.0, index * 950.0 + 960.0, {
        "summary": {"text": "A paragraph about this segment. " * 20, "depth": "standard", "language": "en",
                    "key_points": [f"key {index}.{k}" for k in range(5)]},
        "chapters": {"chapters": chapters},
        "elements": {"equipment": equipment, "topics": topics, "people": {"max_count": rng.randrange(5),
                                                                          "descriptions": ["a worker"]},
                     "speakers": [{"label": "Speaker 1", "role": None, "time_ranges": ranges}],
                     "visual": {"dominant_colors": ["#112233", "#445566"], "brightness": "normal", "motion": "low",
                                "has_audio": True}},
        "waterfall_classification": {**dims, "confidence": {"family": 0.8, "tier_level": 0.0,
                                                            "functional_type": 0.9, "sub_type": 0.0,
                                                            "overall": 0.0},
                                     "evidence": [f"evidence {index}"], "unknown_reasons": {"tier_level": "no"},
                                     "search_tags": ["pond"], "product_keywords": [], "content_type": "other",
                                     "skill_level": "unknown"},
        "search_metadata": {"recording_date": {"date": None, "source": "unknown", "confidence": 0.0},
                            "project": {"name": "Smith", "customer": None, "code": None},
                            "location": {"name": None, "city": None, "region": None, "country": None, "gps": None},
                            "camera": None, "entities": [{"type": "company", "value": f"Co {index % 70}",
                                                          "confidence": 0.5}],
                            "keywords": [f"kw {rng.randrange(80)}" for _ in range(15)]},
    })


def bench_merge() -> None:
    rng = random.Random(14)
    answers = [answer(i, rng) for i in range(ANSWERS)]
    duration = (ANSWERS - 1) * 950.0 + 960.0
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        merged = merge_result("combined", answers, duration)
        best = min(best, time.perf_counter() - start)
    print(f"merging {ANSWERS} combined answers (chapters, elements, classification, metadata): {best * 1000:.0f} ms "
          f"-> {len(merged['chapters']['chapters'])} chapters, {len(merged['elements']['equipment'])} equipment")
    start = time.perf_counter()
    parts = summary_parts(answers)
    request = build_merge_request(FileContext(name="long.mp4", duration_seconds=duration), {}, parts,
                                  count=ANSWERS, missing=[])
    built = time.perf_counter() - start
    prompt = request["messages"][0]["content"][0]["text"]
    start = time.perf_counter()
    LocalAnalyzer(lambda uri: Path(uri)).respond(request)
    print(f"summary merge request over {ANSWERS} summaries: {len(prompt) / 1e6:.2f} MB of prompt "
          f"(~{len(prompt) // 4:,} tokens) built in {built * 1000:.0f} ms; the local answer in "
          f"{(time.perf_counter() - start) * 1000:.0f} ms")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="bench-segments-") as tmp:
        bench_cut(Path(tmp))
    bench_merge()
