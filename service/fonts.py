"""Fonts: the bundled faces, checked at start-up, and what they cover."""

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fontTools.ttLib import TTFont

# What each role must be able to print, checked when the service starts.
REQUIRED = {
    "Arabic letters": "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئةى",
    "Arabic-Indic digits": "٠١٢٣٤٥٦٧٨٩",
    "Western digits": "0123456789",
    "Latin letters": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "quotation marks": "«»“”‘’",
}


class FontError(RuntimeError):
    """The bundled fonts are missing, altered or do not cover what we print."""


@dataclass(frozen=True)
class Face:
    file: str
    family: str
    weight: int
    style: str
    role: str
    version: str
    sha256: str


def _ignorable(char):
    # Characters that are never drawn, so no font needs a glyph for them.
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} or char in "\u00ad"


class FontSet:
    """The fonts in ``fonts/`` as listed by its manifest."""

    def __init__(self, folder):
        self.folder = Path(folder)
        manifest_path = self.folder / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FontError(f"cannot read {manifest_path}: {exc}") from exc
        self.faces = [Face(**{k: entry[k] for k in Face.__dataclass_fields__})
                      for entry in manifest["fonts"]]
        # sha256 of a font file -> {glyph id of a mark: glyph id of its invisible twin}
        self.mark_twins = {
            entry["sha256"]: {int(mark): twin for mark, twin in entry.get("mark_twins", {}).items()}
            for entry in manifest["fonts"]}
        # sha256 of a font file -> {"space"|"rlm": glyph id of an invisible glyph that
        # carries that text} (fonts/build.py, add_text_glyphs)
        self.text_glyphs = {entry["sha256"]: entry.get("text_glyphs", {})
                            for entry in manifest["fonts"]}

    def check(self):
        """Verify every file's hash and the coverage every role needs; return a report."""
        for face in self.faces:
            path = self.folder / face.file
            if not path.is_file():
                raise FontError(f"missing font file {face.file}")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != face.sha256:
                raise FontError(f"{face.file} does not match its sha256 in manifest.json")
        report = self.coverage_summary()
        missing = {name: gaps for name, gaps in report.items() if gaps}
        if missing:
            raise FontError(f"bundled fonts do not cover: {missing}")
        return report

    @cached_property
    def cmaps(self):
        cmaps = {}
        for face in self.faces:
            with TTFont(self.folder / face.file, lazy=True) as font:
                cmaps[face.file] = frozenset(font.getBestCmap())
        return cmaps

    @cached_property
    def covered(self):
        return frozenset().union(*self.cmaps.values())

    def coverage_summary(self):
        """Map each required class of characters to the ones no font covers."""
        return {name: "".join(c for c in chars if ord(c) not in self.covered)
                for name, chars in REQUIRED.items()}

    def missing(self, text):
        """Return the sorted distinct characters of ``text`` that no bundled font covers."""
        return sorted({c for c in text if ord(c) not in self.covered and not _ignorable(c)})

    def font_face_css(self, base_url):
        """@font-face rules for every bundled face, loading from ``base_url``."""
        rules = []
        for face in self.faces:
            rules.append(
                f'@font-face {{ font-family: "{face.family}"; '
                f'src: url("{base_url}{face.file}"); font-weight: {face.weight}; '
                f'font-style: {face.style}; }}')
        return "\n".join(rules) + "\n"

    @cached_property
    def digest(self):
        return hashlib.sha256("".join(f.sha256 for f in self.faces).encode()).hexdigest()[:16]


def describe_char(char):
    name = unicodedata.name(char, "UNKNOWN")
    return f"U+{ord(char):04X} {name} {char!r}"
