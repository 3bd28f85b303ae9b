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
        # sha256 -> {glyph id of a letter its font shifts: [invisible twin, visible
        # twin]} (service/fontprep.py, add_shift_twins; fonts added by `fonts add`)
        self.shift_twins = {
            entry["sha256"]: {int(glyph): twins
                              for glyph, twins in entry.get("shift_twins", {}).items()}
            for entry in manifest["fonts"]}
        # sha256 -> {(glyph ids one letter is drawn with): the invisible glyph drawn
        # in their place} (add_shift_twins)
        self.piece_twins = {
            entry["sha256"]: {tuple(map(int, key.split(","))): twin
                              for key, twin in entry.get("piece_twins", {}).items()}
            for entry in manifest["fonts"]}
        # Our CSS family -> the newsroom's family printed in its place
        # (MATBAA_BRAND_BODY_FONT, MATBAA_BRAND_HEADINGS_FONT; set by the renderer).
        self.families = {}

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
        """@font-face rules for every face, loading from ``base_url``; a family the
        newsroom chose (``families``) is declared under the name of ours it replaces,
        so every rule that names ours prints with it."""
        replaced = set(self.families)
        by = {theirs: ours for ours, theirs in self.families.items()}
        rules = []
        for face in self.faces:
            if face.family in replaced:
                continue
            family = by.get(face.family, face.family)
            rules.append(
                f'@font-face {{ font-family: "{family}"; '
                f'src: url("{base_url}{face.file}"); font-weight: {face.weight}; '
                f'font-style: {face.style}; }}')
        return "\n".join(rules) + "\n"

    def choose(self, setting, family, role, ours):
        """Print ``family`` (a face of this set, added by ``matbaa fonts add``) in place
        of our ``ours``; ValueError naming ``setting`` when it cannot be."""
        faces = [f for f in self.faces if f.family == family]
        if not faces:
            known = sorted({f.family for f in self.faces if f.role == role})
            raise ValueError(f"{setting}: no font family {family!r} in the fonts folder; "
                             f"add it with `matbaa fonts add FILE --role {role}` "
                             f"(families there: {', '.join(known)})")
        covered = frozenset().union(*(self.cmaps[f.file] for f in faces))
        gaps = "".join(c for c in REQUIRED["Arabic letters"] if ord(c) not in covered)
        if gaps:
            raise ValueError(f"{setting}: {family!r} has no Arabic letters {gaps}")
        self.families[ours] = family

    @property
    def digest(self):
        chosen = "".join(f"{k}={v};" for k, v in sorted(self.families.items()))
        return hashlib.sha256(("".join(f.sha256 for f in self.faces) + chosen).encode()
                              ).hexdigest()[:16]


def describe_char(char):
    name = unicodedata.name(char, "UNKNOWN")
    return f"U+{ord(char):04X} {name} {char!r}"


# -- a newsroom's own fonts (matbaa fonts add) ------------------------------------------

ROLES = {"body": "body", "headings": "heading", "latin": "latin"}
# OS/2 fsType: bit 1 restricted (no embedding), 8 no subsetting, 9 bitmaps only.
FS_RESTRICTED, FS_PREVIEW, FS_EDITABLE, FS_NO_SUBSET, FS_BITMAP = 0x2, 0x4, 0x8, 0x100, 0x200


def printed_text(article):
    """An article's title, subtitle and body as text."""
    import lxml.html

    body = lxml.html.fromstring(article.body_html).text_content() \
        if article.body_html and article.body_html.strip() else ""
    return " ".join([article.title, article.subtitle or "", body, *(article.paragraphs or [])])


def printed_words(texts):
    """The Arabic words (letters only) of ``texts`` (``printed_text``): `fonts add`
    shapes them, besides every pair and three of letters, to find the letters a font
    shifts or draws in pieces (some forms depend on the whole word)."""
    import re

    found = set()
    for text in texts:
        letters = "".join(c for c in text if unicodedata.category(c) not in {"Mn", "Me"})
        found.update(re.findall("[\u0620-\u064a\u066e-\u06d3]{2,}", letters))
    return found


def add_font(folder, source, role, words=()):
    """Prepare ``source`` (a TrueType file) the way fonts/build.py prepares ours and
    add it to ``folder`` and its manifest.  Returns the manifest entry.  Raises
    FontError for a font we may not or cannot print with: one whose licence forbids
    embedding or subsetting (OS/2 fsType), one without TrueType outlines, or, for
    the body and headings, one without Arabic letters."""
    from .fontprep import ARABIC_RANGES, LATIN_RANGES, build_one

    folder, source = Path(folder), Path(source)
    if role not in ROLES:
        raise FontError(f"--role must be one of {', '.join(ROLES)}")
    try:
        font = TTFont(source, lazy=True)
    except Exception as exc:
        raise FontError(f"{source}: not a font fontTools can read ({exc})") from None
    with font:
        fs_type, family, weight, italic, licence = _check_addable(font, source, role)
    stem = "".join(ch for ch in family.title() if ch.isalnum()) or "Font"
    target = f"Added{stem}-{weight}{'-Italic' if italic else ''}.ttf"
    shift_twins = {}
    twins, text_glyphs = build_one(source, folder / target,
                                   LATIN_RANGES if ROLES[role] == "latin" else ARABIC_RANGES,
                                   shift_twins=shift_twins, words=words)
    prepared = TTFont(folder / target, lazy=True)
    version = (prepared["name"].getDebugName(5) or "").split(";")[0].removeprefix(
        "Version ").strip()
    prepared.close()
    entry = {
        "file": target, "family": family, "weight": weight,
        "style": "italic" if italic else "normal", "role": ROLES[role], "version": version,
        "sha256": hashlib.sha256((folder / target).read_bytes()).hexdigest(),
        "licence": f"OS/2 fsType {fs_type:#06x}" + (f"; {licence}" if licence else ""),
        "origin": f"{source.name}, added by matbaa fonts add",
        "upstream_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "mark_twins": {str(mark): twin for mark, twin in sorted(twins.items())},
        "text_glyphs": text_glyphs,
        "shift_twins": {str(glyph): twins
                        for glyph, twins in sorted(shift_twins["shifts"].items())},
        "piece_twins": shift_twins["pieces"],
    }
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["fonts"] = [f for f in manifest["fonts"] if f["file"] != target] + [entry]
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                             encoding="utf-8")
    return entry

def _check_addable(font, source, role):
    """(fsType, family, weight, italic, licence text) of a font we may and can print
    with; FontError otherwise."""
    fs_type = font["OS/2"].fsType if "OS/2" in font else 0
    if fs_type & FS_RESTRICTED and not fs_type & (FS_PREVIEW | FS_EDITABLE):
        raise FontError(f"{source.name}: its licence forbids embedding it in documents "
                        f"(OS/2 fsType {fs_type:#06x}, restricted licence embedding)")
    if fs_type & FS_NO_SUBSET:
        raise FontError(f"{source.name}: its licence forbids subsetting it "
                        f"(OS/2 fsType {fs_type:#06x}), and PDFs embed subsets")
    if fs_type & FS_BITMAP:
        raise FontError(f"{source.name}: its licence allows embedding its bitmaps only "
                        f"(OS/2 fsType {fs_type:#06x})")
    if "glyf" not in font:
        raise FontError(f"{source.name}: PostScript (CFF) outlines; only TrueType fonts "
                        "are prepared for now")
    cmap = font.getBestCmap()
    if ROLES[role] != "latin":
        gaps = "".join(c for c in REQUIRED["Arabic letters"] if ord(c) not in cmap)
        if gaps:
            raise FontError(f"{source.name}: has no Arabic letters {gaps}; a {role} font "
                            "must print Arabic")
    name = font["name"]
    family = (name.getDebugName(16) or name.getDebugName(1) or source.stem).strip()
    weight = font["OS/2"].usWeightClass if "OS/2" in font else 400
    italic = bool(font["head"].macStyle & 0x2) or bool(
        "OS/2" in font and font["OS/2"].fsSelection & 0x1)
    licence = (font["name"].getDebugName(13) or "").strip()[:200]
    return fs_type, family, weight, italic, licence
