"""Time the local analyser's combined task on each sample video and print the speed factors."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.inference.local.analyzer import LocalAnalyzer  # noqa: E402

log = logging.getLogger("bench.analyze_local")
TARGET_SPEED = 20.0  # seconds of video per wall second


def media_dir() -> Path:
    """The sample media folder: MEDIA_DIR, else tests/media in the repository."""
    return Path(os.environ.get("MEDIA_DIR") or Path(__file__).resolve().parents[1] / "tests" / "media")


def combined_request(path: Path) -> dict:
    """A messages-v1 combined request for path, with the contract's prompt header."""
    words = " ".join(path.stem.replace("-", " ").replace("_", " ").split())
    prompt = "\n".join([
        "Task: combined", "Media: video", "File context:", f"- name: {path.name}", "- folder: ",
        f"- path words: {words}", "- duration_seconds: unknown", "Options: depth=standard; language=auto",
        "", "Return one JSON object."])
    return {"schemaVersion": "messages-v1", "system": [{"text": "Benchmark."}],
            "messages": [{"role": "user", "content": [
                {"video": {"format": "mp4", "source": {"s3Location": {"uri": f"s3://bench/{path.name}"}}}},
                {"text": prompt}]}],
            "inferenceConfig": {"maxTokens": 8192}}


def bench_one(path: Path) -> tuple[float, float, int]:
    """(video seconds, wall seconds, chapters) for one fresh analyser run."""
    analyzer = LocalAnalyzer(lambda uri: path.parent / uri.rsplit("/", 1)[1])
    started = time.perf_counter()
    response = analyzer.respond(combined_request(path))
    wall = time.perf_counter() - started
    result = json.loads(response["output"]["message"]["content"][0]["text"])
    chapters = result["chapters"]["chapters"]
    return chapters[-1]["end_seconds"], wall, len(chapters)


def main() -> int:
    """Run every sample video and print per-video and total figures."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    videos = sorted(media_dir().glob("*.mp4"))
    if not videos:
        log.error("no .mp4 files in %s (set MEDIA_DIR)", media_dir())
        return 1
    total_video = total_wall = 0.0
    print(f"{'video':<36} {'video s':>8} {'wall s':>7} {'speed':>8} {'chapters':>8}")
    for path in videos:
        seconds, wall, chapters = bench_one(path)
        total_video += seconds
        total_wall += wall
        print(f"{path.name:<36} {seconds:8.1f} {wall:7.2f} {seconds / wall:7.1f}x {chapters:8d}")
    speed = total_video / total_wall
    print(f"{'total':<36} {total_video:8.1f} {total_wall:7.2f} {speed:7.1f}x")
    print(f"target {TARGET_SPEED:.0f}x real time: {'met' if speed >= TARGET_SPEED else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
