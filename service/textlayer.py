"""Text layer: make the characters behind each drawn glyph read back as the article.

A PDF keeps glyphs and their positions; text extractors (poppler's pdftotext,
pdf.js, PDFBox) rebuild text from each glyph's ToUnicode entry, reading the
glyphs of a line in *visual* order and reversing right-to-left runs
themselves.  WeasyPrint gives every glyph the text of its whole shaping
cluster, first come first served, which breaks Arabic in three ways:

* a mark drawn over a letter (tanween, shadda) shares the letter's cluster, so
  one of the two glyphs gets both characters and the other none: words lose
  or gain letters, and the mark, drawn higher up, lands on a line of its own;
* a ligature glyph (the «الله» ligature, lam-alef) gets its characters in
  logical order, which the extractor's own reversal then turns backwards
  («الجارالله» reads back as «الجاراهلل»);
* which text a glyph gets depends on where it was first drawn.

Before WeasyPrint draws a line we assign each glyph its own characters: to a
letter glyph its letter, to a ligature glyph its characters in visual order
(as every glyph of a right-to-left run is read), and to spaces and punctuation
their character between directional marks that say which run they belong to.
Marks (tashkeel) map to no text: WeasyPrint raises them with text rise, and
extractors then put them on a line of their own, tearing the line's words
apart.  The words read back whole and in order; the tashkeel does not (see
README, "Text layer").

We wrap one WeasyPrint function and read Pango's glyph strings the way it
does; ``install()`` checks the function's signature so an upgrade that
changes it fails at start-up, not silently.
"""

import inspect
import unicodedata

EXPECTED_SIGNATURE = "(stream, textbox, text_overflow, block_ellipsis, matrix)"
MARK_CATEGORIES = {"Mn", "Me"}
# Bidi classes that take the direction of the text around them (as fonts/build.py).
NEUTRAL_BIDI = {"WS", "ON", "ES", "ET", "CS", "S"}
RLM, LRM = "\u200f", "\u200e"


class TextLayerError(RuntimeError):
    """The installed WeasyPrint no longer draws text the way we hook into."""


def install():
    """Make WeasyPrint map every glyph to its own characters (idempotent)."""
    from weasyprint.draw import text as draw_text_module

    original = draw_text_module.draw_first_line
    if getattr(original, "matbaa_text_layer", False):
        return
    signature = str(inspect.signature(original))
    if signature != EXPECTED_SIGNATURE:
        raise TextLayerError(
            f"weasyprint.draw.text.draw_first_line{signature} is not the expected "
            f"{EXPECTED_SIGNATURE}; pin WeasyPrint to a version Matbaa supports")

    def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):
        if textbox.text.strip():
            map_first_line(stream, textbox)
        return original(stream, textbox, text_overflow, block_ellipsis, matrix)

    draw_first_line.matbaa_text_layer = True
    draw_text_module.draw_first_line = draw_first_line


def map_first_line(stream, textbox):
    """Set the ToUnicode text of every glyph on the first line of ``textbox``."""
    from weasyprint.text.ffi import ffi, pango

    first_line, _ = textbox.pango_layout.get_first_line()
    utf8 = textbox.pango_layout.text.encode()
    run = first_line.runs[0] if first_line.runs != ffi.NULL else ffi.NULL
    while run != ffi.NULL:
        glyph_item = run.data
        run = run.next
        item = glyph_item.item
        font, _size = stream.add_font(item.analysis.font)
        if font.bitmap:
            continue
        rtl = bool(item.analysis.level % 2)
        glyph_string = glyph_item.glyphs
        count = glyph_string.num_glyphs
        clusters = [glyph_string.log_clusters[i] for i in range(count)]
        starts = sorted(set(clusters))
        ends = dict(zip(starts, starts[1:] + [item.length]))
        groups = {}
        for i in range(count):
            info = glyph_string.glyphs[i]
            glyph = info.glyph
            if glyph == pango.PANGO_GLYPH_EMPTY or glyph & pango.PANGO_GLYPH_UNKNOWN_FLAG:
                continue
            groups.setdefault(clusters[i], []).append((glyph, info.geometry.width))
        for start, glyphs in groups.items():
            text = utf8[item.offset + start:item.offset + ends[start]].decode()
            for glyph, chars in assign(glyphs, text, rtl):
                font.to_unicode[glyph] = chars


def assign(glyphs, text, rtl):
    """Split a cluster's ``text`` over its ``glyphs`` ((id, advance) in visual order).

    Returns (glyph id, characters) pairs; none when the split is not certain,
    leaving WeasyPrint's own mapping.
    """
    # Joiners (service/joining.py) and line feeds are not part of any word.
    text = text.replace("\u200d", "").replace("\u200c", "").rstrip("\n")
    if not text:
        return []
    if all(unicodedata.category(c) in MARK_CATEGORIES for c in text):
        return [(glyph, "") for glyph, _advance in glyphs]
    if len(glyphs) == 1:
        if len(text) == 1 and unicodedata.bidirectional(text) in NEUTRAL_BIDI:
            # A space or punctuation mark: extractors decide its direction from
            # its neighbours and attach it to the wrong run at a boundary
            # («68 عاما» reads back «68عاما», «2017-2018» as «2018-2017»).
            # Directional marks on both sides say which run it belongs to.
            # The glyph is only ever drawn in runs of this direction
            # (fonts/build.py gives left-to-right runs twins of these glyphs).
            mark = RLM if rtl else LRM
            return [(glyphs[0][0], mark + text + mark)]
        # One glyph for the whole cluster (a letter, or a ligature): in a
        # right-to-left run its characters go in visual order, like the glyphs.
        return [(glyphs[0][0], text[::-1] if rtl else text)]
    bases = [c for c in text if unicodedata.category(c) not in MARK_CATEGORIES]
    marks = [c for c in text if unicodedata.category(c) in MARK_CATEGORIES]
    base_glyphs = [g for g, advance in glyphs if advance != 0]
    mark_glyphs = [g for g, advance in glyphs if advance == 0]
    if len(base_glyphs) != 1 or len(mark_glyphs) != len(marks) or not bases:
        return []
    base_text = "".join(bases)
    return [(base_glyphs[0], base_text[::-1] if rtl else base_text)] + [
        (glyph, "") for glyph in mark_glyphs]
