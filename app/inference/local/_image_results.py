"""Build the contract's image result objects from measured facts and the prompt header."""
from __future__ import annotations

from app.inference.local import _results_common as common
from app.inference.local._image_facts import ImageFacts
from app.inference.local._pixels import brightness_label, color_name
from app.inference.local._prompt_header import PromptHeader

MONOCHROME_CHROMA = 12.0  # mean chroma (0-255) below which an image looks monochrome
COLOURFUL_CHROMA = 40.0


class ImageResults:
    """The four image analysis results for one request, computed from one ImageFacts."""

    def __init__(self, header: PromptHeader, facts: ImageFacts) -> None:
        self.header = header
        self.facts = facts
        self.topics = common.path_topics(header)
        self.brightness = brightness_label(facts.brightness)
        self.names = list(dict.fromkeys(color_name(c) for c in facts.dominant_colors))
        # The header carries what the library read at ingest; the file's own EXIF fills gaps.
        self.date = header.exif_date or facts.exif_date
        self.camera = header.camera or facts.exif_camera
        self.gps = header.gps or facts.exif_gps

    def build(self, task: str) -> dict:
        """The result object for task (one of the image task keys)."""
        builders = {"description": self.description, "elements": self.elements,
                    "waterfall_classification": lambda: common.waterfall_classification(self.header),
                    "metadata": self.metadata}
        return builders[task]()

    def description(self) -> dict:
        """Size, light, colour and EXIF facts in a few sentences."""
        f = self.facts
        sentences = [f"{common.LOCAL_PREFIX}{f.orientation} {f.format.upper()} image of {f.width}×{f.height} "
                     f"pixels, {self._light()}, mostly {common.and_join(self.names)} ({', '.join(f.dominant_colors)}), "
                     f"{self._saturation()}."]
        exif = self._exif_sentence()
        if exif:
            sentences.append(exif)
        if self.header.depth != "brief":
            if self.topics:
                sentences.append(f"The file name and folder suggest: {', '.join(self.topics)}.")
            sentences.append(common.NOT_RECOGNISED)
        note = common.language_note(self.header)
        if note:
            sentences.append(note)
        return {"text": " ".join(sentences), "scene_type": None, "primary_subject": None,
                "key_points": self._key_points()}

    def elements(self) -> dict:
        """Measured visual facts; nothing is claimed about objects, people or text."""
        return {
            "equipment": [],
            "topics": [{"name": word, "description": "Suggested by the file path, not seen in the image."}
                       for word in self.topics],
            "people": {"max_count": None, "descriptions": []},
            # The prompt asks Nova for null motion and audio on stills; answer the same way.
            "visual": {"dominant_colors": list(self.facts.dominant_colors), "brightness": self.brightness,
                       "motion": None, "has_audio": None},
            "text_visible": [],
        }

    def metadata(self) -> dict:
        """Dates, camera, GPS, project guess and keywords."""
        keywords = [*self.names, self.facts.orientation]
        if self.brightness != "normal":
            keywords.append(self.brightness)
        return common.metadata(self.header, keywords=keywords, exif_date=self.date, camera=self.camera,
                               gps=self.gps)

    def _light(self) -> str:
        """Brightness wording."""
        return "normal brightness" if self.brightness == "normal" else self.brightness

    def _saturation(self) -> str:
        """How colourful the image is."""
        if self.facts.colorfulness < MONOCHROME_CHROMA:
            return "nearly monochrome"
        return "colourful" if self.facts.colorfulness >= COLOURFUL_CHROMA else "muted colours"

    def _exif_sentence(self) -> str | None:
        """What the capture metadata says, if anything."""
        parts = []
        if self.date:
            parts.append(f"taken {self.date}")
        if self.camera:
            parts.append(f"camera {self.camera}")
        if self.gps:
            parts.append(f"GPS {self.gps[0]:.6f},{self.gps[1]:.6f}")
        return f"Capture metadata: {', '.join(parts)}." if parts else None

    def _key_points(self) -> list[str]:
        """Facts, trimmed to the requested depth."""
        f = self.facts
        points = [f"{f.width}×{f.height} pixels, {f.orientation}",
                  f"Brightness: {self.brightness} (mean luma {f.brightness:.0f}/255)",
                  f"Dominant colours: {', '.join(f'{c} ({color_name(c)})' for c in f.dominant_colors)}"]
        if self.date:
            points.append(f"Taken {self.date}")
        if self.camera:
            points.append(f"Camera: {self.camera}")
        if self.topics:
            points.append(f"Path words: {', '.join(self.topics)}")
        limit = {"brief": 3, "standard": 5}.get(self.header.depth, len(points))
        return points[:limit]
