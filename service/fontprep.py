"""Font preparation: what a font needs before Matbaa prints with it.

Shared by ``fonts/build.py`` (our bundled Noto fonts) and ``matbaa fonts add`` (a
newsroom's own): the font is subset to the scripts an Arabic news article uses, its
hinting dropped, and it is given the glyphs the text layer draws
(``service/engine/textlayer.py``): a left-to-right twin of every direction-neutral
glyph (``ltra``), an invisible twin of every mark, and the invisible glyphs that
carry a justified space's text and U+200F.  TrueType outlines (``glyf``) only.
"""

import copy
import itertools
import logging
import unicodedata

from fontTools import subset
from fontTools.otlLib.builder import buildLookup, buildSingleSubstSubtable
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables import otTables

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


def add_shift_twins(font, words=()):
    """Give every letter glyph the font shifts off its pen position (GPOS moves some
    letters sideways or up by their neighbours: Amiri's waw before yeh) two twins:
    ``<name>.shift``, invisible with the glyph's advance, drawn at the pen to carry the
    letter's text for extractors, and ``<name>.shown``, the same drawing, drawn shifted
    and hidden from them.  Where the glyph itself stood, poppler read the gap its shift
    leaves as a space.  And every letter the font draws in pieces (Amiri's lam before
    kaf) one invisible glyph for them all, the pieces getting visible twins too.
    Returns ({glyph id: [invisible twin, visible twin]}, {"id,id…" of the pieces: their
    invisible glyph}).

    The glyphs are found by shaping every pair of the font's Arabic letters, alone and
    beside tatweels (so in every joining form), every three of the basic ones, and
    ``words`` (those of the articles it is to print)."""
    import io

    import uharfbuzz as hb
    from fontTools.ttLib.tables._g_l_y_f import Glyph

    cmap = font.getBestCmap()
    letters = [chr(cp) for cp in sorted(cmap) if 0x0620 <= cp <= 0x06FF
               and unicodedata.category(chr(cp)) == "Lo"]
    data = io.BytesIO()
    font.save(data)
    shaper = hb.Font(hb.Face(data.getvalue()))
    order = list(font.getGlyphOrder())
    shifted = {}        # glyph id -> the widest advance it is drawn with
    # A letter's form (and so whether it is shifted) depends on both its neighbours.
    basic = [letter for letter in letters if letter <= "\u064a"]
    texts = [before + first + second + after for first in letters for second in letters
             for before, after in itertools.product(("", "\u0640"), repeat=2)]
    texts += [first + second + third + after for first in basic for second in basic
              for third in basic for after in ("", "\u0640")]
    # And the words it is to print: some forms depend on more than the next letter.
    have = set(letters)
    texts += sorted(word for word in words if have.issuperset(word))
    pieces = {}         # the glyphs one letter is drawn with -> their widest advance
    for text in texts:
        buffer = hb.Buffer()
        buffer.add_str(text)
        buffer.guess_segment_properties()
        hb.shape(shaper, buffer, {})
        clusters = {}
        for info, position in zip(buffer.glyph_infos, buffer.glyph_positions):
            if position.x_advance and (position.x_offset or position.y_offset):
                shifted[info.codepoint] = max(shifted.get(info.codepoint, 0),
                                              position.x_advance)
            if position.x_advance:
                clusters.setdefault(info.cluster, []).append(
                    (info.codepoint, position.x_advance))
        for cluster, drawn in clusters.items():
            # The string is all letters (and tatweels): one character per cluster
            # unless a ligature joins several, which is drawn as one glyph.
            if len(drawn) > 1 and text[cluster] != "\u0640" and (
                    cluster + 1 == len(text) or cluster + 1 in clusters):
                key = tuple(glyph for glyph, _advance in drawn)
                pieces[key] = max(pieces.get(key, 0), sum(a for _glyph, a in drawn))
    glyf, hmtx = font["glyf"], font["hmtx"]
    letter_names = {}
    for key, advance in sorted(pieces.items()):
        # One invisible glyph for the whole letter, drawn in place of its pieces, which
        # are drawn hidden: each piece had the letter's text, and it read twice
        # (Amiri's lam before kaf, «اللكويت»).
        name = "_".join(order[gid] for gid in key) + ".letter"
        glyf.glyphs[name] = Glyph()
        hmtx.metrics[name] = (advance, 0)
        order.append(name)
        letter_names[key] = name
    for gid in sorted({gid for key in pieces for gid in key} - set(shifted)):
        shifted[gid] = 0          # shown hidden only (its advance is the letter twin's)
    names = {}
    for gid, advance in sorted(shifted.items()):
        name = order[gid]
        names[name] = (f"{name}.shift", f"{name}.shown")
        glyf.glyphs[names[name][0]] = Glyph()
        glyf.glyphs[names[name][1]] = copy.deepcopy(glyf[name])
        # The shift moves the pen too (the advance grows by it): the invisible twin
        # spans the widest, or poppler reads the gap beside it as a space; the
        # narrower pens overlap it a little, which extractors take as one word.
        hmtx.metrics[names[name][0]] = (max(advance, hmtx.metrics[name][0]), 0)
        hmtx.metrics[names[name][1]] = hmtx.metrics[name]
        order += names[name]
    font.setGlyphOrder(order)
    glyf.glyphOrder = order
    index = {name: gid for gid, name in enumerate(order)}
    shifts = {index[name]: [index[twin] for twin in twins] for name, twins in names.items()}
    letters_drawn = {",".join(map(str, key)): index[name]
                     for key, name in letter_names.items()}
    return shifts, letters_drawn


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


def build_one(source, target, ranges, shift_twins=None, words=()):
    """Subset one upstream font; the upstream timestamps keep the output byte-identical.
    With a dict as ``shift_twins``, fills it (``add_shift_twins``, shaping ``words`` too)."""
    options = subset.Options()
    options.layout_features = ["*"]   # keep every Arabic shaping feature
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.glyph_names = False
    options.drop_tables += ["DSIG"]
    font = TTFont(source, recalcTimestamp=False)
    # fontTools names tables it drops (FFTM, a FontForge timestamp) as warnings.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    subsetter = subset.Subsetter(options)
    unicodes = [cp for lo, hi in ranges for cp in range(lo, hi + 1)]
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    add_ltr_variants(font)
    twins = add_mark_twins(font)
    text_glyphs = add_text_glyphs(font)
    if shift_twins is not None:
        shift_twins["shifts"], shift_twins["pieces"] = add_shift_twins(font, words)
    font.save(target, reorderTables=True)
    return twins, text_glyphs
