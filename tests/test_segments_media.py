"""Cutting long videos into segments (app/media/segments.py) and choosing their length
(app/services/segments/plan.py): bounds, overlap, keyframes, remux, reuse, size limits, a 2-hour video."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import av
import pytest

from app.config import load_settings
from app.media.proxies import make_video_proxy
from app.media.segments import ensure_segments, plan_bounds, segment_folder
from app.nova.catalog import load_catalog
from app.services.segments.plan import full_detail_seconds, segmentation_for
from long_media import first_and_last_second, make_timestamped_video
from media_factory import make_test_video


@pytest.fixture(scope="session")
def two_hour_proxy(tmp_path_factory) -> Path:
    """A 2-hour proxy (1 fps, 112x64) whose frames show their own second."""
    folder = tmp_path_factory.mktemp("two-hours")
    source = make_timestamped_video(folder / "site walk.mp4", 7200)
    return make_video_proxy(source, folder / "proxy" / "proxy.mp4").path


@pytest.fixture
def short_proxy(tmp_path) -> Path:
    source = make_test_video(tmp_path / "clip.mp4", seconds=13, fps=25, colour_per_second=True, audio_channels=2)
    return make_video_proxy(source, tmp_path / "derived" / "proxy.mp4").path


def keyframe_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None and p.is_keyframe]


def video_packets(path: Path, start: float = 0.0, end: float = float("inf")) -> list[bytes]:
    """Video packets in decode order whose time lies in [start, end)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [bytes(p) for p in container.demux(stream)
                if p.pts is not None and start - 1e-6 <= float(p.pts * p.time_base) < end - 1e-6]


def test_bounds_overlap_and_the_last_segment_is_short():
    assert plan_bounds(2000.0, 960, 10) == [(0.0, 960.0), (950.0, 1910.0), (1900.0, 2000.0)]
    assert plan_bounds(965.0, 960, 10) == [(0.0, 960.0), (950.0, 965.0)]
    assert plan_bounds(1910.0, 960, 10) == [(0.0, 960.0), (950.0, 1910.0)]  # no empty segment after the end
    assert plan_bounds(120.0, 60, 0) == [(0.0, 60.0), (60.0, 120.0)]
    for bad in ((0.0, 60, 10), (100.0, 60, 60), (100.0, 0, 0)):
        with pytest.raises(ValueError):
            plan_bounds(*bad)


def test_proxies_have_a_keyframe_every_two_seconds_on_the_dot(short_proxy):
    keys = keyframe_times(short_proxy)
    assert [k for k in keys if k in (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0)] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]


def test_pieces_start_at_the_keyframe_before_the_boundary_and_are_remuxed_not_encoded(short_proxy):
    # Length 7, overlap 2: nominal starts 0, 5, 10 and ends 7, 12, 13; keyframes every 2 s.
    pieces = ensure_segments(short_proxy, duration=13.0, segment_seconds=7, overlap=2)
    assert [(p.start_seconds, p.end_seconds) for p in pieces] == [(0.0, 6.0), (4.0, 12.0), (10.0, 13.0)]
    for piece in pieces:
        assert piece.path.parent == segment_folder(short_proxy, 7, 2) == short_proxy.parent / "segments" / "7s-2s"
        assert piece.size_bytes == piece.path.stat().st_size
        with av.open(str(piece.path)) as container:
            frames = list(container.decode(video=0))
            assert container.streams.audio, "the audio track is kept"
        assert frames[0].time == 0.0  # timestamps start at 0
        assert frames[-1].time == pytest.approx(piece.duration_seconds - 1 / 15, abs=1e-3)
        # The very packets of the proxy: copied, not encoded again.
        assert video_packets(piece.path) == video_packets(short_proxy, piece.start_seconds, piece.end_seconds)
    with open(pieces[0].path, "rb") as handle:
        head = handle.read(64)
    assert head.index(b"moov") < 40 or b"moov" in head  # faststart: the index comes first


def test_pieces_are_reused_until_the_proxy_changes(short_proxy):
    first = ensure_segments(short_proxy, duration=13.0, segment_seconds=6, overlap=2)
    stamps = [p.path.stat().st_mtime_ns for p in first]
    again = ensure_segments(short_proxy, duration=13.0, segment_seconds=6, overlap=2)
    assert again == first and [p.path.stat().st_mtime_ns for p in again] == stamps
    first[1].path.unlink()  # a lost piece is cut again, alone
    again = ensure_segments(short_proxy, duration=13.0, segment_seconds=6, overlap=2)
    assert again == first and again[0].path.stat().st_mtime_ns == stamps[0]
    # A proxy made again (another size or time) makes every piece again.
    replacement = make_test_video(short_proxy.parent / "other.mp4", seconds=13, fps=25)
    make_video_proxy(replacement, short_proxy)
    os.utime(short_proxy, ns=(1, 1))
    regenerated = ensure_segments(short_proxy, duration=13.0, segment_seconds=6, overlap=2)
    assert [p.size_bytes for p in regenerated] != [p.size_bytes for p in first]
    assert video_packets(regenerated[1].path) == video_packets(short_proxy, 4.0, 10.0)


def test_a_two_hour_proxy_cuts_into_the_model_s_full_detail_segments(two_hour_proxy, tmp_path):
    settings = load_settings(environ={}, overrides={"DATA_DIR": str(tmp_path), "TESTING": True})
    lite = load_catalog().get("lite-v1")
    assert full_detail_seconds(lite) == 960
    plan = segmentation_for(lite, settings, {}, duration=7200.0, proxy_bytes=two_hour_proxy.stat().st_size)
    assert (plan.seconds, plan.overlap, plan.count) == (960, 10, 8)
    pieces = ensure_segments(two_hour_proxy, duration=7200.0, segment_seconds=plan.seconds, overlap=plan.overlap)
    assert [(p.start_seconds, p.end_seconds) for p in pieces] == [
        (i * 950.0, min(i * 950.0 + 960, 7200.0)) for i in range(8)]
    for piece in pieces:
        first, last, first_time, count = first_and_last_second(piece.path)
        assert (first, first_time) == (piece.start_seconds, 0.0)  # the frame shown at 0 is the boundary's
        assert last == piece.end_seconds - 1 and count == piece.duration_seconds
    # Remuxed: the pieces hold the proxy's bytes once, plus the overlaps, plus a little container.
    written = sum(p.size_bytes for p in pieces)
    assert written < two_hour_proxy.stat().st_size * (1 + 7 * 10 / 7200) * 1.05


def test_a_proxy_too_big_for_one_object_gets_segments_that_fit(tmp_path):
    settings = load_settings(environ={}, overrides={"DATA_DIR": str(tmp_path), "TESTING": True})
    base = load_catalog().get("local-analyzer")
    model = replace(base, max_object_bytes=1_000_000)
    # 2 hours at 3,000 bytes a second: 300 s fit in 90% of the limit.
    plan = segmentation_for(model, settings, {}, duration=7200.0, proxy_bytes=3000 * 7200)
    assert plan.seconds == 300 and plan.count == len(plan_bounds(7200.0, 300, 10))
    # A 20-second video of the same bitrate fits whole; at 100 times the bitrate not even 30 s fit.
    assert segmentation_for(model, settings, {}, duration=20.0, proxy_bytes=3000 * 20) is None
    with pytest.raises(ValueError, match="bitrate is too high"):
        segmentation_for(model, settings, {}, duration=7200.0, proxy_bytes=300_000 * 7200)
    # Too big for one object though shorter than one segment: segmented all the same.
    plan = segmentation_for(model, settings, {}, duration=600.0, proxy_bytes=3000 * 600)
    assert plan is not None and plan.seconds == 300
    assert segmentation_for(base, settings, {}, duration=13.0, proxy_bytes=220_000) is None


def test_every_piece_of_a_real_cut_respects_the_size_limit(two_hour_proxy, tmp_path):
    settings = load_settings(environ={}, overrides={"DATA_DIR": str(tmp_path), "TESTING": True})
    size = two_hour_proxy.stat().st_size
    limit = int(size / 7200 * 700)  # about 700 s of this proxy
    model = replace(load_catalog().get("lite-v1"), max_object_bytes=limit)
    plan = segmentation_for(model, settings, {}, duration=7200.0, proxy_bytes=size)
    assert plan.seconds < 960
    pieces = ensure_segments(two_hour_proxy, duration=7200.0, segment_seconds=plan.seconds, overlap=plan.overlap)
    assert len(pieces) == plan.count
    assert all(p.size_bytes <= limit for p in pieces), [p.size_bytes for p in pieces]


def test_two_cutters_at_once_wait_for_each_other_and_get_the_same_pieces(short_proxy):
    def cut(_):
        return ensure_segments(short_proxy, duration=13.0, segment_seconds=6, overlap=2)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(cut, range(4)))
    assert all(result == results[0] for result in results)
    assert all(p.path.stat().st_size == p.size_bytes for p in results[0])
