"""Build the contract's video result objects from measured facts."""
from __future__ import annotations

from dataclasses import dataclass

from app.inference.local import _results_common as common
from app.inference.local._pixels import brightness_label, color_name, dominant_colors
from app.inference.local._prompt_header import PromptHeader
from app.inference.local._scenes import Segment, mean_change, motion_label, segment_video
from app.inference.local._video_facts import Sample, VideoFacts

KEY_POINTS_BY_DEPTH = {"brief": 3, "standard": 5, "detailed": 12}
STANDARD_SCENE_LINES = 8
_REASONS = {
    "start": "Opening of the video.",
    "activity": "Starts where movement picks up after a calm stretch.",
    "cut": "Starts at a sharp change of picture (likely a cut).",
    "split": "Continues the previous scene (long scenes are split every 5 minutes).",
}


@dataclass(frozen=True)
class Look:
    """Brightness, motion and colours of a run of samples."""

    luma: float
    brightness: str
    change: float | None
    motion: str
    colors: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """Distinct plain names of the dominant colours."""
        return list(dict.fromkeys(color_name(c) for c in self.colors))

    @property
    def light(self) -> str:
        """'dark', 'bright' or 'normal brightness'."""
        return "normal brightness" if self.brightness == "normal" else self.brightness

    @property
    def moving(self) -> str:
        """'static' or '<level> motion'."""
        return "static" if self.motion == "static" else f"{self.motion} motion"

    @property
    def phrase(self) -> str:
        """'bright, high motion' style description."""
        return f"{self.light}, {self.moving}"


def look_of(samples: tuple[Sample, ...] | list[Sample]) -> Look:
    """Summarise samples (at least one) into a Look."""
    luma = sum(s.luma for s in samples) / len(samples)
    change = mean_change(samples)
    return Look(luma=luma, brightness=brightness_label(luma), change=change, motion=motion_label(change),
                colors=tuple(dominant_colors(s.thumb for s in samples)))


class VideoResults:
    """The five video analysis results for one request, computed from one VideoFacts."""

    def __init__(self, header: PromptHeader, facts: VideoFacts) -> None:
        self.header = header
        self.facts = facts
        self.segments = segment_video(facts)
        self.overall = look_of(facts.samples)
        self.topics = common.path_topics(header)
        # A segment of a longer video: times in the answer stay relative to the segment (the contract), but
        # the times written into text say where things are in the full video.
        self.offset = header.segment_start or 0.0 if header.segment is not None else 0.0

    def _at(self, seconds: float) -> str:
        """A time of this media as text, in the full video's clock."""
        return common.clock(seconds + self.offset)

    def build(self, task: str) -> dict:
        """The result object for task (one of the video task keys)."""
        if task == "combined":
            return {name: self.build(name) for name in
                    ("summary", "chapters", "elements", "waterfall_classification", "search_metadata")}
        builders = {"summary": self.summary, "chapters": self.chapters, "elements": self.elements,
                    "waterfall_classification": lambda: common.waterfall_classification(self.header),
                    "search_metadata": self.search_metadata}
        return builders[task]()

    def summary(self) -> dict:
        """Plain-language summary in paragraphs; the depth decides how many."""
        depth = self.header.depth
        if depth == "brief":
            count = len(self.segments)
            scenes = "It is one continuous scene." if count == 1 else f"It falls into {count} scenes."
            paragraphs = [f"{self._opening()} {scenes}"]
        else:
            paragraphs = [f"{self._opening()} {self._scene_sentence()}", self._scenes_paragraph(depth),
                          self._context_paragraph()]
        if depth == "detailed":
            paragraphs.append(self._technical_paragraph())
        elif self.facts.decode_error:
            paragraphs.append(self._decode_sentence())
        note = common.language_note(self.header)
        if note:
            paragraphs.append(note)
        return {"text": "\n\n".join(paragraphs), "depth": depth, "language": "en",
                "key_points": self._key_points()[:KEY_POINTS_BY_DEPTH[depth]]}

    def _scenes_paragraph(self, depth: str) -> str:
        """Scene by scene: one phrase each (standard, first few) or full facts (detailed)."""
        limit = len(self.segments) if depth == "detailed" else STANDARD_SCENE_LINES
        lines = [self._chapter_line(n, seg, detailed=depth == "detailed")
                 for n, seg in enumerate(self.segments[:limit], 1)]
        rest = len(self.segments) - limit
        if rest > 0:
            lines.append(f"{rest} more scene(s) follow; see the chapters for all of them.")
        return " ".join(lines)

    def _context_paragraph(self) -> str:
        """What the path suggests and what the local analyser cannot know."""
        sentences = []
        if self.topics:
            sentences.append(f"The file name and folder suggest: {', '.join(self.topics)}.")
        sentences.append(common.NOT_RECOGNISED)
        return " ".join(sentences)

    def _technical_paragraph(self) -> str:
        """How the facts were measured."""
        f = self.facts
        mode = "keyframes only" if f.keyframes_only else "all frames decoded, one measured per interval"
        sentences = [f"Measured on {len(f.samples)} frames sampled every {f.sample_interval:g} s ({mode}); "
                     f"video codec {f.codec}" + (f", audio codec {f.audio_codec}." if f.has_audio else ".")]
        if f.creation_date:
            sentences.append(f"The container records a creation date of {f.creation_date}.")
        if f.decode_error:
            sentences.append(self._decode_sentence())
        return " ".join(sentences)

    def _decode_sentence(self) -> str:
        """What could not be decoded."""
        f = self.facts
        if f.missing_tail:
            return (f"Only the first {common.clock(f.decoded_until)} of {common.clock(f.duration)} could be "
                    "decoded; nothing is known about the rest.")
        return "Some damaged parts of the file could not be decoded and were skipped."

    def chapters(self) -> dict:
        """One chapter per segment, covering 0..duration."""
        return {"chapters": [self._chapter(n, seg) for n, seg in enumerate(self.segments, 1)]}

    def elements(self) -> dict:
        """Measured visual facts; nothing is claimed about objects, people or speakers."""
        return {
            "equipment": [],
            "topics": [{"name": word, "description": "Suggested by the file path, not seen in the video.",
                        "time_ranges": []} for word in self.topics],
            "people": {"max_count": None, "descriptions": []},
            "speakers": [],
            "visual": self._visual(),
        }

    def search_metadata(self) -> dict:
        """Dates, project guess and keywords from the path, the container and the picture."""
        keywords = list(self.overall.names)
        if self.overall.brightness != "normal":
            keywords.append(self.overall.brightness)
        keywords.append(self.overall.moving)
        if self.facts.has_audio:
            keywords.append("audio")
        return common.metadata(self.header, keywords=keywords, container_date=self.facts.creation_date,
                               camera=self.facts.camera)

    def _visual(self) -> dict:
        """The contract's visual block for the whole video."""
        return {"dominant_colors": list(self.overall.colors), "brightness": self.overall.brightness,
                "motion": self.overall.motion, "has_audio": self.facts.has_audio}

    def _opening(self) -> str:
        """First sentence: what kind of footage this is."""
        f, o = self.facts, self.overall
        audio = "with audio" if f.has_audio else "no audio"
        fps = f", {f.fps:g} fps" if f.fps else ""
        part = ""
        if self.header.segment is not None:
            part = (f"segment {self.header.segment} of {self.header.segment_count} "
                    f"({self._at(0.0)}–{self._at(f.duration)} of the full video), a ")
        return (f"{common.LOCAL_PREFIX}{part}{_duration_words(f.duration)} video ({f.width}×{f.height}{fps}, "
                f"{audio}), "
                f"{o.light} and {o.moving} overall, mostly {common.and_join(o.names)} tones "
                f"({', '.join(o.colors)}).")

    def _scene_sentence(self) -> str:
        """How the video divides into scenes and why."""
        count = len(self.segments)
        if count == 1:
            return "It is one continuous scene."
        starts = {reason: [self._at(s.start) for s in self.segments if s.reason == reason]
                  for reason in ("activity", "cut", "split")}
        parts = []
        if starts["activity"]:
            parts.append(f"movement picks up at {_join(starts['activity'])}")
        if starts["cut"]:
            parts.append(f"the picture changes sharply at {_join(starts['cut'])}")
        if starts["split"]:
            parts.append(f"long stretches are split at {_join(starts['split'])}")
        detail = f"; {'; '.join(parts)}" if parts else ""
        return f"It falls into {count} scenes{detail}."

    def _key_points(self) -> list[str]:
        """Facts in order of usefulness; the depth decides how many are kept."""
        o, f = self.overall, self.facts
        colours = ", ".join(f"{c} ({color_name(c)})" for c in o.colors)
        points = [
            f"{len(self.segments)} scene(s) found from colour and motion changes",
            f"Brightness: {o.brightness} (mean luma {o.luma:.0f}/255)",
            f"Motion: {o.motion} (mean frame change {o.change or 0:.1f}/255 between samples)",
            f"Dominant colours: {colours}",
            f"Audio track: {f.audio_codec}" if f.has_audio else "No audio track",
        ]
        if self.topics:
            points.append(f"Path words: {', '.join(self.topics)}")
        peak = _peak(f.samples)
        if peak is not None and o.motion != "static":
            points.append(f"Largest visual change at {self._at(peak.time)}")
        if f.decode_error:
            points.insert(1, self._decode_sentence())
        note = common.language_note(self.header)
        if note:
            points.append(note)
        return points

    def _chapter(self, number: int, seg: Segment) -> dict:
        """One chapter object with title, summary and key points from its samples."""
        span = f"({self._at(seg.start)}–{self._at(seg.end)})"
        if seg.reason == "undecodable":
            return {"title": f"Scene {number} {span}: not decodable", "start_seconds": seg.start,
                    "end_seconds": seg.end,
                    "summary": f"{common.LOCAL_PREFIX}this part of the file could not be decoded.",
                    "key_points": [f"Decoding stopped at {self._at(seg.start)}"]}
        samples = seg.samples or self._nearest(seg)
        look = look_of(samples)
        sentences = [f"{common.LOCAL_PREFIX}{_duration_words(seg.end - seg.start)} of {look.phrase}, "
                     f"mostly {common.and_join(look.names)} ({', '.join(look.colors)}).", self._reason(seg)]
        peak = _peak(samples)
        if peak is not None and look.motion != "static":
            sentences.append(f"Most change around {self._at(peak.time)}.")
        points = [f"Brightness {look.brightness} (mean luma {look.luma:.0f}/255)",
                  f"Motion {look.motion} (mean frame change {look.change or 0:.1f}/255)",
                  f"Dominant colours {', '.join(look.colors)}"]
        return {"title": f"Scene {number} {span}: {look.phrase}", "start_seconds": seg.start,
                "end_seconds": seg.end, "summary": " ".join(sentences), "key_points": points}

    def _chapter_line(self, number: int, seg: Segment, *, detailed: bool = False) -> str:
        """One sentence about a chapter for the summary."""
        span = f"({self._at(seg.start)}–{self._at(seg.end)})"
        if seg.reason == "undecodable":
            return f"Scene {number} {span} could not be decoded."
        samples = seg.samples or self._nearest(seg)
        look = look_of(samples)
        if not detailed:
            return f"Scene {number} {span}: {look.phrase}."
        peak = _peak(samples)
        extra = f" Most change around {self._at(peak.time)}." if peak and look.motion != "static" else ""
        return (f"Scene {number} {span}: {look.phrase}, mostly {common.and_join(look.names)}. "
                f"{self._reason(seg)}{extra}")

    def _reason(self, seg: Segment) -> str:
        """Why a chapter starts where it does; a later segment's first chapter is not the video's opening."""
        if seg.reason == "start" and (self.header.segment or 1) > 1:
            return "Start of this segment: it continues the one before."
        return _REASONS[seg.reason]

    def _nearest(self, seg: Segment) -> tuple[Sample, ...]:
        """The last sample before seg ends, for segments that fell between samples."""
        before = [s for s in self.facts.samples if s.time < seg.end]
        return (before[-1] if before else self.facts.samples[0],)


def _peak(samples: tuple[Sample, ...] | list[Sample]) -> Sample | None:
    """The sample with the largest change from its predecessor."""
    changed = [s for s in samples if s.change is not None]
    return max(changed, key=lambda s: (s.change, -s.time)) if changed else None


def _duration_words(seconds: float) -> str:
    """'30 s', '2 min 19 s' or '1 h 02 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = int(seconds + 0.5)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def _join(items: list[str], limit: int = 6) -> str:
    """The items joined in English, or the first few and how many more."""
    if len(items) > limit:
        return f"{', '.join(items[:limit])} and {len(items) - limit} more times"
    return common.and_join(items)
