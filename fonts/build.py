"""Build the bundled fonts from Debian's ``fonts-noto-core`` package, reproducibly.

Run from the project root::

    .venv/bin/python fonts/build.py            # downloads the .deb with apt-get
    .venv/bin/python fonts/build.py --deb X.deb

The upstream files are OFL-1.1 Noto fonts.  We subset them to the scripts an
Arabic news article uses (Arabic, Latin, punctuation) so each worker loads and
WeasyPrint re-subsets less; hinting is dropped because PDF viewers do not use
TrueType hinting for print.  ``manifest.json`` records where every file came
from and its sha256, and is what the service checks at start-up.
"""

import argparse
import copy
import hashlib
import json
import subprocess
import unicodedata
import tempfile
from pathlib import Path

from fontTools import subset
from fontTools.otlLib.builder import buildLookup, buildSingleSubstSubtable
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables import otTables

HERE = Path(__file__).resolve().parent
PACKAGE = "fonts-noto-core"
UPSTREAM_DIR = "usr/share/fonts/truetype/noto"

# Arabic blocks, the ASCII a font must have for digits and punctuation, NBSP,
# guillemets, the joiners and bidi controls, and the dotted circle HarfBuzz
# draws under a mark that has no base letter.
ARABIC_RANGES = [
    (0x0020, 0x007E), (0x00A0, 0x00A0), (0x00AB, 0x00AB), (0x00BB, 0x00BB),
    (0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF),
    (0x2000, 0x206F), (0x25CC, 0x25CC), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF),
]
# Latin letters with Western European and Turkish/Eastern European accents,
# combining accents, general punctuation (curly quotes, dashes), currency.
LATIN_RANGES = [
    (0x0020, 0x024F), (0x0300, 0x036F), (0x1E00, 0x1EFF), (0x2000, 0x206F),
    (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2190, 0x2199), (0x2212, 0x2212),
]

# (output file, CSS family, weight, style, role, upstream file, ranges)
FONTS = [
    ("MatbaaNaskh-Regular.ttf", "Matbaa Naskh", 400, "normal", "body",
     "NotoNaskhArabic-Regular.ttf", ARABIC_RANGES),
    ("MatbaaNaskh-Bold.ttf", "Matbaa Naskh", 700, "normal", "body",
     "NotoNaskhArabic-Bold.ttf", ARABIC_RANGES),
    ("MatbaaKufi-Regular.ttf", "Matbaa Kufi", 400, "normal", "heading",
     "NotoKufiArabic-Regular.ttf", ARABIC_RANGES),
    ("MatbaaKufi-Bold.ttf", "Matbaa Kufi", 700, "normal", "heading",
     "NotoKufiArabic-Bold.ttf", ARABIC_RANGES),
    ("MatbaaLatin-Regular.ttf", "Matbaa Latin", 400, "normal", "latin",
     "NotoSerif-Regular.ttf", LATIN_RANGES),
    ("MatbaaLatin-Bold.ttf", "Matbaa Latin", 700, "normal", "latin",
     "NotoSerif-Bold.ttf", LATIN_RANGES),
    ("MatbaaLatin-Italic.ttf", "Matbaa Latin", 400, "italic", "latin",
     "NotoSerif-Italic.ttf", LATIN_RANGES),
    ("MatbaaLatinSans-Regular.ttf", "Matbaa Latin Sans", 400, "normal", "latin",
     "NotoSans-Regular.ttf", LATIN_RANGES),
    ("MatbaaLatinSans-Bold.ttf", "Matbaa Latin Sans", 700, "normal", "latin",
     "NotoSans-Bold.ttf", LATIN_RANGES),
]


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fetch_deb(workdir):
    subprocess.run(["apt-get", "download", PACKAGE], cwd=workdir, check=True)
    return next(Path(workdir).glob(f"{PACKAGE}_*.deb"))


def extract_deb(deb, workdir):
    """Unpack data.tar.* of a .deb with dpkg-deb (always present on Debian)."""
    target = Path(workdir) / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    version = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True,
        text=True).stdout.strip()
    return target, version


def ofl_text(copyright_file):
    """Return the OFL-1.1 text from a Debian machine-readable copyright file."""
    lines = Path(copyright_file).read_text(encoding="utf-8").splitlines()
    # The licence text is the stand-alone paragraph, the last with this header.
    start = len(lines) - 1 - lines[::-1].index("License: OFL-1.1")
    text = []
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        line = line[1:]
        text.append("" if line == "." else line)
    return "SIL Open Font License, Version 1.1\n\n" + "\n".join(text).strip() + "\n"


# Bidi classes of characters that take the direction of the text around them.
NEUTRAL_BIDI = {"WS", "ON", "ES", "ET", "CS", "S"}


def add_ltr_variants(font):
    """Give every direction-neutral glyph (space, punctuation) a twin used in left-to-right runs.

    HarfBuzz applies the ``ltra`` feature to left-to-right runs only, so after
    this a space or a comma inside a Latin name or a number is a different
    glyph from one between Arabic words.  Text extractors need to know which
    is which (service/textlayer.py), and a PDF maps text per glyph, not per
    occurrence.  The twins are identical copies: nothing changes on paper.
    """
    cmap = font.getBestCmap()
    neutral = {name for codepoint, name in cmap.items()
               if unicodedata.bidirectional(chr(codepoint)) in NEUTRAL_BIDI}
    # Also the glyphs other features put in their place before ``ltra`` runs (it is
    # the last lookup): Noto Naskh's ``locl`` swaps the full stop for another glyph
    # in Arabic text, digits and Latin words included, which had no twin and so
    # read back in both directions (tests/test_mixed_direction.py, "version").
    neutral |= single_substitution_closure(font, neutral)
    twins = {name: f"{name}.ltr" for name in sorted(neutral, key=font.getGlyphID)}
    glyf, hmtx = font["glyf"], font["hmtx"]
    order = font.getGlyphOrder() + sorted(twins.values())
    for name, twin in twins.items():
        glyf.glyphs[twin] = copy.deepcopy(glyf[name])
        hmtx.metrics[twin] = hmtx.metrics[name]
    font.setGlyphOrder(order)
    glyf.glyphOrder = order
    if "GDEF" in font and font["GDEF"].table.GlyphClassDef:
        classes = font["GDEF"].table.GlyphClassDef.classDefs
        for name, twin in twins.items():
            if name in classes:
                classes[twin] = classes[name]

    gsub = font["GSUB"].table
    gsub.LookupList.Lookup.append(buildLookup([buildSingleSubstSubtable(twins)]))
    gsub.LookupList.LookupCount = len(gsub.LookupList.Lookup)
    record = otTables.FeatureRecord()
    record.FeatureTag = "ltra"
    record.Feature = otTables.Feature()
    record.Feature.FeatureParams = None
    record.Feature.LookupListIndex = [gsub.LookupList.LookupCount - 1]
    record.Feature.LookupCount = 1
    gsub.FeatureList.FeatureRecord.append(record)
    gsub.FeatureList.FeatureCount = len(gsub.FeatureList.FeatureRecord)
    feature_index = gsub.FeatureList.FeatureCount - 1
    for script_record in gsub.ScriptList.ScriptRecord:
        script = script_record.Script
        for langsys in [script.DefaultLangSys] + [r.LangSys for r in script.LangSysRecord]:
            if langsys is not None:
                langsys.FeatureIndex.append(feature_index)
                langsys.FeatureCount = len(langsys.FeatureIndex)
    return len(twins)


def single_substitution_closure(font, names):
    """Glyphs that GSUB single substitutions (any feature, any context) turn ``names`` into."""
    mappings = []
    for lookup in font["GSUB"].table.LookupList.Lookup:
        for subtable in lookup.SubTable:
            if lookup.LookupType == 7:
                subtable = subtable.ExtSubTable
            if subtable.LookupType == 1:
                mappings.append(subtable.mapping)
    found, new = set(), set(names)
    while new:
        reached = {target for mapping in mappings for name in new
                   if (target := mapping.get(name)) is not None}
        new = reached - found - set(names)
        found |= new
    return found


def add_mark_twins(font):
    """Give every combining mark an invisible, zero-width twin named ``<mark>.text``.

    service/textlayer.py draws the twin where the mark belongs on the line,
    carrying the mark's character for text extractors, and draws the visible
    mark apart, hidden from them: a mark drawn raised inside the line makes
    extractors break the line there.
    """
    from fontTools.ttLib.tables._g_l_y_f import Glyph

    cmap = font.getBestCmap()
    twins = sorted({f"{name}.text" for codepoint, name in cmap.items()
                    if unicodedata.category(chr(codepoint)) in {"Mn", "Me"}})
    glyf, hmtx = font["glyf"], font["hmtx"]
    for twin in twins:
        glyf.glyphs[twin] = Glyph()
        hmtx.metrics[twin] = (0, 0)
    order = font.getGlyphOrder() + twins
    font.setGlyphOrder(order)
    glyf.glyphOrder = order
    index = {name: gid for gid, name in enumerate(order)}
    return {index[twin.removesuffix(".text")]: index[twin] for twin in twins}


def add_text_glyphs(font):
    """Add invisible glyphs that only carry text; return {"space"|"rlm": glyph id}.

    service/engine/textlayer.py draws them for the readers (READER_SPACING there):
    ``space.text``, the space's advance and no ink, stands for a justified space,
    whose text is a bare space; ``rlm.text``, zero-width, carries U+200F where such
    a space meets a left-to-right run.  They are in no cmap: no text is shaped to
    them, and the font's own U+200F glyph (a visible arrow in Noto) is never drawn.
    """
    from fontTools.ttLib.tables._g_l_y_f import Glyph

    glyf, hmtx = font["glyf"], font["hmtx"]
    space = font.getBestCmap()[0x20]
    added = {"space": ("space.text", hmtx[space]), "rlm": ("rlm.text", (0, 0))}
    order = list(font.getGlyphOrder())
    for name, metrics in added.values():
        glyf.glyphs[name] = Glyph()
        hmtx.metrics[name] = metrics
        order.append(name)
    font.setGlyphOrder(order)
    glyf.glyphOrder = order
    index = {name: gid for gid, name in enumerate(order)}
    return {key: index[name] for key, (name, _metrics) in added.items()}


def build_one(source, target, ranges):
    """Subset one upstream font; the upstream timestamps keep the output byte-identical."""
    options = subset.Options()
    options.layout_features = ["*"]   # keep every Arabic shaping feature
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.glyph_names = False
    options.drop_tables += ["DSIG"]
    font = TTFont(source, recalcTimestamp=False)
    subsetter = subset.Subsetter(options)
    unicodes = [cp for lo, hi in ranges for cp in range(lo, hi + 1)]
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    add_ltr_variants(font)
    twins = add_mark_twins(font)
    text_glyphs = add_text_glyphs(font)
    font.save(target, reorderTables=True)
    return twins, text_glyphs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", help=f"a downloaded {PACKAGE} .deb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        deb = Path(args.deb) if args.deb else fetch_deb(workdir)
        root, version = extract_deb(deb, workdir)
        manifest = {"package": PACKAGE, "package_version": version, "fonts": []}
        for out, family, weight, style, role, upstream, ranges in FONTS:
            source = root / UPSTREAM_DIR / upstream
            twins, text_glyphs = build_one(source, HERE / out, ranges)
            name = TTFont(HERE / out)["name"]
            manifest["fonts"].append({
                "file": out, "family": family, "weight": weight, "style": style,
                "role": role, "version": name.getDebugName(5).split(";")[0].removeprefix("Version ").strip(),
                "sha256": sha256(HERE / out), "licence": "OFL-1.1",
                "origin": f"Debian {PACKAGE} {version}: {UPSTREAM_DIR}/{upstream}"
                          f" ({name.getDebugName(1)}), subset by fonts/build.py",
                "upstream_sha256": sha256(source),
                # glyph id of each mark -> glyph id of its invisible twin
                "mark_twins": {str(mark): twin for mark, twin in sorted(twins.items())},
                # invisible glyphs the text layer draws: a justified space, U+200F
                "text_glyphs": text_glyphs,
            })
        (HERE / "OFL.txt").write_text(
            ofl_text(root / "usr/share/doc" / PACKAGE / "copyright"), encoding="utf-8")
        (HERE / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"built {len(FONTS)} fonts into {HERE.name}/")


if __name__ == "__main__":
    main()
