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
their character with directional marks that say which run they belong to.

Marks (tashkeel) are drawn twice.  On the line, each mark is swapped for an
invisible twin glyph (fonts/build.py) that sits on the baseline and carries
the mark's character; after the line, the visible mark is drawn at its
raised place inside an empty /ActualText, which extractors skip.  A raised
glyph on the line itself would make poppler and pdf.js cut the line there.

We wrap one WeasyPrint function and read Pango's glyph strings the way it
does; ``install()`` checks the function's signature so an upgrade that
changes it fails at start-up, not silently.  Having read a line's glyphs, we
also draw it (``show_line``), operator for operator as WeasyPrint would, except
for the lines where WeasyPrint does something special (ellipsis, bitmap or
colour fonts, missing glyphs, glyphs off the baseline): WeasyPrint reads every
glyph from C again, one attribute at a time (same bytes, tests/test_textlayer.py;
a 10-page article 1.41 → 1.25 s, measured).
"""

import functools
import hashlib
import inspect
import unicodedata

EXPECTED_SIGNATURE = "(stream, textbox, text_overflow, block_ellipsis, matrix)"
MARK_CATEGORIES = {"Mn", "Me"}
# Bidi classes that take the direction of the text around them (as fonts/build.py).
NEUTRAL_BIDI = {"WS", "ON", "ES", "ET", "CS", "S"}
RLM, LRM, WORD_JOINER = "\u200f", "\u200e", "\u2060"
_GLYPH_INFO = 20   # bytes in a PangoGlyphInfo; install() checks it against Pango's
# Lines drawn by show_line where WeasyPrint would draw them the same (tests switch it off
# to compare the bytes).
FAST_DRAWING = True




class TextLayerError(RuntimeError):
    """The installed WeasyPrint no longer draws text the way we hook into."""


def install(font_set):
    """Make WeasyPrint map every glyph to its own characters (idempotent).

    ``font_set`` (service.fonts.FontSet) knows each mark's invisible twin,
    per font file (fonts/build.py).
    """
    from weasyprint.draw import text as draw_text_module

    original = draw_text_module.draw_first_line
    if getattr(original, "matbaa_text_layer", False):
        original.mark_twins.update(font_set.mark_twins)
        return
    signature = str(inspect.signature(original))
    if signature != EXPECTED_SIGNATURE:
        raise TextLayerError(
            f"weasyprint.draw.text.draw_first_line{signature} is not the expected "
            f"{EXPECTED_SIGNATURE}; pin WeasyPrint to a version Matbaa supports")
    from weasyprint.text.ffi import ffi

    if ffi.sizeof("PangoGlyphInfo") != _GLYPH_INFO or ffi.sizeof("PangoGlyphGeometry") != 12:
        raise TextLayerError("PangoGlyphInfo is no longer five 32-bit fields")
    twins_by_file = dict(font_set.mark_twins)

    def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):
        marks, runs = [], None
        if textbox.text.strip():
            # Ellipsis lays the line out again inside WeasyPrint, undoing our
            # swaps: such lines (running headers) keep their marks as they are.
            swap = text_overflow != "ellipsis" and block_ellipsis == "none"
            runs = [] if swap and FAST_DRAWING else None
            marks = map_first_line(stream, textbox, twins_by_file, swap, runs)
        if runs and textbox.style["font_size"] >= 1e-6:
            show_line(stream, textbox, matrix, runs)
            emojis = []
        else:
            emojis = original(_RaisedGlyphsHidden(stream), textbox, text_overflow,
                              block_ellipsis, matrix)
        draw_marks(stream, marks, matrix)
        return emojis

    draw_first_line.matbaa_text_layer = True
    draw_first_line.mark_twins = twins_by_file
    draw_text_module.draw_first_line = draw_first_line


class _RaisedGlyphsHidden:
    """The drawing stream, with every raised glyph given an empty /ActualText.

    WeasyPrint draws a glyph that sits off the baseline with text rise
    (``Ts``); poppler reads such a glyph as a line of its own, tearing apart
    the words of the real line.  Marks no longer go this way (``draw_marks``);
    this catches any other raised glyph a font may position.
    """

    def __init__(self, stream):
        self._stream = stream
        self._open = False

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def set_text_rise(self, rise):
        if rise and not self._open:
            _begin_hidden(self._stream)
            self._open = True
        self._stream.set_text_rise(rise)
        if not rise and self._open:
            self._stream.end_marked_content()
            self._open = False


def _begin_hidden(stream):
    import pydyf

    stream.begin_marked_content("Span", pydyf.Dictionary({"ActualText": pydyf.String("")}))


def map_first_line(stream, textbox, twins_by_file, swap_marks=True, runs=None):
    """Set the ToUnicode text of every glyph on the first line of ``textbox``.

    Marks are swapped, in Pango's glyph string, for their invisible twins on
    the baseline, which carry the mark's character.  Returns the visible marks
    to draw after the line: (font, size, Pango font, glyph id, x, x offset,
    y offset).

    Given a list as ``runs``, fills it with what ``show_line`` needs to draw
    the line from the glyphs read here, or empties it if the line needs
    WeasyPrint's own drawing (a bitmap or colour font, a glyph no font has, a
    glyph off the baseline).
    """
    from weasyprint.text.ffi import ffi, pango

    # WeasyPrint sets this before drawing; setting it first keeps Pango from
    # laying the line out again, which would undo the swaps below.
    pango.pango_layout_set_single_paragraph_mode(textbox.pango_layout.layout, True)
    first_line, _ = textbox.pango_layout.get_first_line()
    utf8 = textbox.pango_layout.text.encode()
    marks = []
    pen = 0
    # The fonts of this line, by Pango font: a justified line is a run per word and
    # per space, mostly in one or two fonts, and WeasyPrint's add_font describes the
    # Pango font again at each call (a fifth of this function's time, measured).
    fonts = {}
    run = first_line.runs[0] if first_line.runs != ffi.NULL else ffi.NULL
    while run != ffi.NULL:
        glyph_item = run.data
        run = run.next
        item = glyph_item.item
        pango_font = item.analysis.font
        known = fonts.get(pango_font)
        if known is None:
            font, font_size = stream.add_font(pango_font)
            known = fonts[pango_font] = (
                font, font_size, _twins_of(font, twins_by_file) if swap_marks else {},
                _Settled.of(font))
        font, font_size, twins, settled = known
        glyph_string = glyph_item.glyphs
        count = glyph_string.num_glyphs
        if font.bitmap:
            pen += sum(glyph_string.glyphs[i].geometry.width for i in range(count))
            if runs is not None:
                runs.clear()
                runs = None
            continue
        # One copy of the C arrays into Python lists: far cheaper than
        # indexing cdata glyph by glyph (this runs for every line drawn).
        # A PangoGlyphInfo is five 32-bit fields: glyph, width, x offset,
        # y offset, attributes (install() checks the size).
        fields = memoryview(
            ffi.buffer(glyph_string.glyphs, count * _GLYPH_INFO)).cast("i").tolist()
        rtl = bool(item.analysis.level % 2)
        # A glyph has one text in the whole PDF (the font's ToUnicode map), so a
        # run whose glyphs all have theirs already, and holds no mark to swap,
        # has nothing left to do: after the first lines of a document that is
        # nearly every run.
        glyph_ids = fields[0::5]
        entry = None
        if runs is not None:
            if font.png or font.svg or font.colr or any(
                    glyph & pango.PANGO_GLYPH_UNKNOWN_FLAG for glyph in glyph_ids):
                runs.clear()
                runs = None
            else:
                entry = [pango_font, font, font_size, fields, item, None]
                runs.append(entry)
        if settled.done[rtl].issuperset(glyph_ids) and twins.keys().isdisjoint(glyph_ids):
            pen += sum(fields[1::5])
            if runs is not None and any(fields[3::5]):      # a glyph off the baseline
                runs.clear()
                runs = None
            continue
        clusters = ffi.unpack(glyph_string.log_clusters, count)
        if entry is not None:
            entry[5] = clusters
        starts = sorted(set(clusters))
        ends = dict(zip(starts, starts[1:] + [item.length]))
        groups = {}
        for i, cluster in enumerate(clusters):
            glyph, width = fields[5 * i] & 0xFFFFFFFF, fields[5 * i + 1]
            if glyph != pango.PANGO_GLYPH_EMPTY and not glyph & pango.PANGO_GLYPH_UNKNOWN_FLAG:
                groups.setdefault(cluster, []).append((glyph, bool(width)))
                twin = twins.get(glyph)
                if twin is not None:
                    marks.append((font, font_size, pango_font, glyph, pen,
                                  fields[5 * i + 2], fields[5 * i + 3]))
                    # On the pen position, unshifted: an invisible glyph needs
                    # no offset, and shifts make pdf.js cut the line in pieces.
                    info = glyph_string.glyphs[i]
                    info.glyph = twin
                    info.geometry.x_offset = info.geometry.y_offset = 0
                    fields[5 * i], fields[5 * i + 2], fields[5 * i + 3] = twin, 0, 0
            pen += width
        if runs is not None and any(fields[3::5]):      # off the baseline, not a mark
            runs.clear()
            runs = None
        to_unicode = font.to_unicode
        for start, glyphs in groups.items():
            text = utf8[item.offset + start:item.offset + ends[start]].decode()
            for glyph, chars in assign(tuple(glyphs), text, rtl):
                glyph = twins.get(glyph, glyph)
                to_unicode[glyph] = chars
                settled.add(glyph, chars, rtl)
    for font, _size, _pango_font, glyph, *_position in marks:
        # The visible mark is only ever drawn hidden from extractors; pdf.js
        # skips a glyph whose text ends with a format character.
        font.to_unicode[glyph] = WORD_JOINER
    return marks



def show_line(stream, textbox, matrix, runs):
    """Draw a line's glyphs as WeasyPrint's ``draw_first_line`` does, operator for
    operator, from the glyph fields ``map_first_line`` read (``runs``).

    WeasyPrint reads every glyph's fields from C one attribute at a time; here
    they are in Python lists already.  Only for lines WeasyPrint would draw
    without its special cases (``map_first_line`` leaves ``runs`` empty
    otherwise); tests/test_textlayer.py checks the bytes are the same.
    """
    from weasyprint.text.ffi import FROM_UNITS, pango

    empty = pango.PANGO_GLYPH_EMPTY
    utf8 = None
    stream.set_text_matrix(*matrix.values)
    previous_pango_font = None
    string = ""
    for pango_font, font, font_size, fields, item, clusters in runs:
        if pango_font != previous_pango_font:
            previous_pango_font = pango_font
            if string:
                stream.show_text(string)
            string = ""
            stream.set_font_size(font.hash, font_size)
        to_unicode, widths = font.to_unicode, font.widths
        count = len(fields) // 5
        parts = ["<"]
        for i in range(count):
            glyph_id, width, x_offset = fields[5 * i], fields[5 * i + 1], fields[5 * i + 2]
            if glyph_id == empty:
                parts.append(f">{-width / font_size}<")
                continue
            if glyph_id not in to_unicode:
                # WeasyPrint's own text for a glyph we left (its whole cluster).
                if clusters is None:
                    raise TextLayerError("a glyph without text in a run taken as done")
                if utf8 is None:
                    utf8 = textbox.pango_layout.text.encode()
                t1 = clusters[i]
                if item.analysis.level % 2:
                    t2 = item.length if i == 0 else clusters[i - 1]
                else:
                    t2 = item.length if i == count - 1 else clusters[i + 1]
                to_unicode[glyph_id] = utf8[item.offset + t1:item.offset + t2].decode()
            offset = x_offset / font_size
            if offset:
                parts.append(f">{-offset}<")
            parts.append(f"{glyph_id:04x}")
            logical_width = widths.get(glyph_id)
            if logical_width is None:
                pango.pango_font_get_glyph_extents(
                    pango_font, glyph_id, stream.ink_rect, stream.logical_rect)
                logical_width = widths[glyph_id] = round(
                    stream.logical_rect.width * 1000 * FROM_UNITS / font_size)
            kerning = logical_width + offset - width * 1000 * FROM_UNITS / font_size
            if kerning:
                parts.append(f">{int(kerning)}<")
        run_string = "".join(parts)
        string += run_string[:-1] if run_string[-1] == "<" else run_string + ">"
    stream.show_text(string)


class _Settled:
    """The glyphs of a WeasyPrint font (one per document) whose text is known, by direction.

    ``done[rtl]``: glyphs that need nothing more in runs of that direction.  A
    glyph given two different texts (one glyph for two characters, say «أ»
    precomposed and with a separate hamza, or a neutral glyph without its
    left-to-right twin drawn in both directions) is never done: every run
    holding it is mapped again, and its last text wins, as without this shortcut.
    """

    def __init__(self):
        self.done = (set(), set())
        self.texts = {}
        self.contested = set()

    @classmethod
    def of(cls, font):
        settled = getattr(font, "matbaa_settled", None)
        if settled is None:
            settled = font.matbaa_settled = cls()
        return settled

    def add(self, glyph, chars, rtl):
        if self.texts.setdefault(glyph, chars) != chars:
            self.texts[glyph] = chars
            self.contested.add(glyph)
            for done in self.done:
                done.discard(glyph)
        elif glyph not in self.contested:
            self.done[rtl].add(glyph)


def _twins_of(font, twins_by_file):
    """The mark twins of the file behind a WeasyPrint font."""
    twins = getattr(font, "matbaa_twins", None)
    if twins is None:
        digest = hashlib.sha256(font.file_content).hexdigest()
        twins = font.matbaa_twins = twins_by_file.get(digest, {})
    return twins


def draw_marks(stream, marks, matrix):
    """Draw the visible marks set aside by ``map_first_line``, hidden from extractors."""
    from weasyprint.text.ffi import FROM_UNITS, pango

    if not marks:
        return
    a, b, c, d, e, f = matrix.values
    _begin_hidden(stream)
    for font, font_size, pango_font, glyph, pen, x_offset, y_offset in marks:
        if glyph not in font.widths:
            pango.pango_font_get_glyph_extents(
                pango_font, glyph, stream.ink_rect, stream.logical_rect)
            font.widths[glyph] = round(
                stream.logical_rect.width * 1000 * FROM_UNITS / font_size)
        # Same arithmetic as WeasyPrint's own drawing: advances in Pango
        # units, offsets and rise in thousandths.
        stream.set_text_matrix(a, b, c, d, e + pen * FROM_UNITS + x_offset / 1000, f)
        stream.set_font_size(font.hash, font_size)
        stream.set_text_rise(-y_offset / 1000)
        stream.show_text(f"<{glyph:04x}>")
    stream.set_text_rise(0)
    stream.end_marked_content()


def neutral_text(char, rtl):
    """The text of a space or punctuation glyph: the character and its direction.

    poppler's pdftotext treats the character as belonging to a run only if a
    directional mark stands on the side facing that run, so punctuation is
    framed by marks.  A space is followed by its mark only: pdf.js treats a
    glyph whose text starts with white space as a space.  (pdf.js skips a
    glyph whose text ends with a format character, so it leaves punctuation
    out; the words it reads are unaffected.)
    """
    mark = RLM if rtl else LRM
    if char.isspace():
        # Any space reads back as a plain one: fonts draw the no-break space
        # with the space glyph, and a glyph has one text in the whole PDF.
        return " " + mark
    return mark + char + mark


@functools.lru_cache(maxsize=65536)
def assign(glyphs, text, rtl):
    """Split a cluster's ``text`` over its ``glyphs`` ((id, has advance) in visual order).

    Returns (glyph id, characters) pairs; none when the split is not certain,
    leaving WeasyPrint's own mapping.
    """
    # Joiners (service/joining.py) and line feeds are not part of any word.
    text = text.replace("\u200d", "").replace("\u200c", "").rstrip("\n")
    if not text:
        return []
    if all(unicodedata.category(c) in MARK_CATEGORIES for c in text):
        return list(zip((glyph for glyph, _advance in glyphs), text)) \
            if len(glyphs) == len(text) else []
    if len(glyphs) == 1:
        if len(text) == 1 and unicodedata.bidirectional(text) in NEUTRAL_BIDI:
            # A space or punctuation mark: extractors decide its direction from
            # its neighbours and attach it to the wrong run at a boundary
            # («68 عاما» reads back «68عاما», «2017-2018» as «2018-2017»).
            # Directional marks on both sides say which run it belongs to.
            # The glyph is only ever drawn in runs of this direction
            # (fonts/build.py gives left-to-right runs twins of these glyphs).
            return [(glyphs[0][0], neutral_text(text, rtl))]
        # One glyph for the whole cluster (a letter, or a ligature): in a
        # right-to-left run its characters go in visual order, like the glyphs.
        return [(glyphs[0][0], text[::-1] if rtl else text)]
    bases = [c for c in text if unicodedata.category(c) not in MARK_CATEGORIES]
    marks = [c for c in text if unicodedata.category(c) in MARK_CATEGORIES]
    base_glyphs = [g for g, advance in glyphs if advance != 0]
    mark_glyphs = [g for g, advance in glyphs if advance == 0]
    if len(base_glyphs) != 1 or len(mark_glyphs) != len(marks) or not bases:
        return []
    if rtl:
        marks.reverse()
    base_text = "".join(bases)
    return [(base_glyphs[0], base_text[::-1] if rtl else base_text)] + list(
        zip(mark_glyphs, marks))
