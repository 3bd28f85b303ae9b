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

And the glyphs read are those of the line's last layout (``KeptLine``): WeasyPrint
lets go of a line's Pango layout once it knows where the line ends, and to draw it
sets a layout up and shapes the line again.  The glyphs are copied when it lets go,
and a justified line's spaces widened as Pango widens them; a line that cannot be
reproduced so is laid out again as before.  Same bytes for Arabic text (all 304 corpus
articles and their edition parts, checked before the exception below; the tests check
the samples, Arabic corpus articles and the odd cases), except, on purpose, that a
justified line's spaces keep their run's font, so that lines of Latin text end flush.
A/B in one process: a 10-page article 1.087 → 0.994 s, the seed article 0.158 →
0.155 s, a 40-article edition part 2.63 → 2.42 s.
"""

import functools
import hashlib
import inspect
import re
import unicodedata

EXPECTED_SIGNATURE = "(stream, textbox, text_overflow, block_ellipsis, matrix)"
MARK_CATEGORIES = {"Mn", "Me"}
# Bidi classes that take the direction of the text around them (as fonts/build.py).
NEUTRAL_BIDI = {"WS", "ON", "ES", "ET", "CS", "S"}
RLM, LRM, WORD_JOINER = "\u200f", "\u200e", "\u2060"
# The texts of a space (neutral_text).
SPACE_TEXTS = frozenset((f" {RLM}", f" {LRM}"))
# Left-to-right punctuation written bare (neutral_text).
NUMBER_SEPARATORS = set(".,:%-")
_GLYPH_INFO = 20   # bytes in a PangoGlyphInfo; install() checks it against Pango's
# Lines drawn by show_line where WeasyPrint would draw them the same (tests switch it off
# to compare the bytes).
FAST_DRAWING = True
# Justified spaces drawn for PDFBox and poppler alike (docs/readers.md).  WeasyPrint
# justifies a line by widening each space half before and half after its glyph.  PDFBox
# (Apache Tika) starts a new chunk of a line at a gap that does not follow a glyph whose
# text ends with a space, and joins a line's chunks left to right, each reordered on its
# own: justified Arabic lines came out with their words shuffled.  So show_line draws a
# widened space as an invisible glyph of the space's advance whose text is a bare space
# (fonts/build.py, add_text_glyphs), where its gap starts, the whole gap after it; a
# space has no ink, so no pixel moves.  poppler skips a bare space and, reordering a
# right-to-left line, takes what stands just left of a left-to-right run (a number, a
# Latin word) into that run, which glued «14» to the next word: where such a space ends
# a right-to-left run and a left-to-right run follows, an invisible, zero-width U+200F
# is drawn between them; also where it ends its inline box's line, since the box
# beside it (an <em>, a link) is drawn apart and may be left to right.  Other spaces keep their text with its mark (neutral_text),
# which poppler needs, and so do left-to-right lines, which PDFBox joins in order.
# Tests switch this off to compare the bytes with WeasyPrint's.
READER_SPACING = True
# The longest row of spaces drawn so (a table laid out with no-break spaces is left as
# WeasyPrint draws it: poppler skips a bare space, and read such a row as a gutter).
SPACE_ROW = 3
# A glyph raised by at most this share of the font size stays on its line with its text
# (Amiri raises letters by a hair before hah and jeem); beyond, it is drawn hidden, as a
# raised mark is, or poppler would read it as a line of its own.
RISE_READ_ON_THE_LINE = 0.1
# sha256 of a font file -> {"space"|"rlm": invisible glyph id} (fonts/build.py)
_text_glyphs = {}
# sha256 of a font file -> {letter glyph id: [invisible twin, visible twin]}
# (service/fontprep.py, add_shift_twins)
_shift_twins = {}
# sha256 of a font file -> {(glyph ids one letter is drawn with): its invisible glyph}
_piece_twins = {}




class TextLayerError(RuntimeError):
    """The installed WeasyPrint no longer draws text the way we hook into."""


def install(font_set, kept_lines_bytes=32 * 1024 * 1024):
    """Both mends of this module (for tests); ``engine.install`` is the way in."""
    from . import Context

    context = Context(font_set, kept_lines_bytes)
    for mend in MENDS:
        if mend.active():
            if mend.refresh is not None:
                mend.refresh(context)
        else:
            mend.prepare(context)()


def _text_layer_active():
    from weasyprint.draw import text as draw_text_module

    return getattr(draw_text_module.draw_first_line, "matbaa_text_layer", False)


def _refresh_text_layer(context):
    from weasyprint.draw import text as draw_text_module

    _kept["budget"] = context.kept_lines_bytes
    if context.font_set is not None:
        draw_text_module.draw_first_line.mark_twins.update(context.font_set.mark_twins)
        _text_glyphs.update(context.font_set.text_glyphs)
        _shift_twins.update(context.font_set.shift_twins)
        _piece_twins.update(context.font_set.piece_twins)


def _prepare_text_layer(context):
    """Make WeasyPrint map every glyph to its own characters.

    ``context.font_set`` (service.fonts.FontSet) knows each mark's invisible twin,
    per font file (fonts/build.py).
    """
    from weasyprint.draw import text as draw_text_module
    from weasyprint.text.ffi import ffi

    from . import Refused

    original = draw_text_module.draw_first_line
    signature = str(inspect.signature(original))
    if signature != EXPECTED_SIGNATURE:
        raise Refused(f"weasyprint.draw.text.draw_first_line{signature} is not the expected "
                      f"{EXPECTED_SIGNATURE}")
    if ffi.sizeof("PangoGlyphInfo") != _GLYPH_INFO or ffi.sizeof("PangoGlyphGeometry") != 12:
        raise Refused("PangoGlyphInfo is no longer five 32-bit fields")
    twins_by_file = dict(context.font_set.mark_twins) if context.font_set is not None else {}
    if context.font_set is not None:
        _text_glyphs.update(context.font_set.text_glyphs)
        _shift_twins.update(context.font_set.shift_twins)
        _piece_twins.update(context.font_set.piece_twins)

    def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):
        layout = textbox.pango_layout
        if "layout" not in layout.__dict__:
            # draw_text left it unset: drawn from the glyphs kept from its layout.
            runs = []
            marks = map_first_line(stream, textbox, twins_by_file, True, runs,
                                   kept=layout.matbaa_line)
            if marks is not None and runs:
                show_line(stream, textbox, matrix, runs)
                draw_marks(stream, marks, matrix)
                return []
            layout.matbaa_set_up(textbox.style)     # WeasyPrint draws this one
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
            emojis = original(_RaisedGlyphsHidden(stream, textbox.style["font_size"]),
                              textbox, text_overflow,
                              block_ellipsis, matrix)
            _no_empty_texts(stream, textbox)
        draw_marks(stream, marks, matrix)
        return emojis

    draw_first_line.matbaa_text_layer = True
    draw_first_line.mark_twins = twins_by_file

    def apply():
        _kept["budget"] = context.kept_lines_bytes
        draw_text_module.draw_first_line = draw_first_line

    return apply


def _no_empty_texts(stream, textbox):
    """What show_line does for a glyph WeasyPrint gives no characters (a later glyph of
    its cluster), after WeasyPrint drew the line itself: U+2060, not nothing, which
    PDFium reads as the glyph's number taken for a character."""
    for pango_font, fields, *_rest in _pango_runs(textbox.pango_layout):
        to_unicode = stream.add_font(pango_font)[0].to_unicode
        for glyph in fields[0::5]:
            if to_unicode.get(glyph) == "":
                to_unicode[glyph] = WORD_JOINER


class _RaisedGlyphsHidden:
    """The drawing stream, with every raised glyph given an empty /ActualText.

    WeasyPrint draws a glyph that sits off the baseline with text rise
    (``Ts``); poppler reads such a glyph as a line of its own, tearing apart
    the words of the real line.  Marks no longer go this way (``draw_marks``);
    this catches any other raised glyph a font may position.
    """

    def __init__(self, stream, font_size):
        self._stream = stream
        self._open = False
        # In PDF points, as Ts takes it (WeasyPrint's px are 0.75 pt).
        self._tolerated = RISE_READ_ON_THE_LINE * font_size * 0.75

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def set_text_rise(self, rise):
        if abs(rise) <= self._tolerated and not self._open:
            self._stream.set_text_rise(rise)
            return
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


def map_first_line(stream, textbox, twins_by_file, swap_marks=True, runs=None, kept=None):
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
    from weasyprint.text.ffi import pango

    utf8 = textbox.pango_layout.text.encode()
    if kept is None:
        source = _pango_runs(textbox.pango_layout)
    else:
        source = kept.runs_for(textbox.pango_layout, utf8)
        if source is None:
            return None
    marks = []
    pen = 0
    # The fonts of this line, by Pango font: a justified line is a run per word and
    # per space, mostly in one or two fonts, and WeasyPrint's add_font describes the
    # Pango font again at each call (a fifth of this function's time, measured).
    fonts = {}
    for pango_font, fields, clusters, (offset, length, level), glyph_string, cuts in source:
        known = fonts.get(pango_font)
        if known is None:
            font, font_size = stream.add_font(pango_font)
            known = fonts[pango_font] = (
                font, font_size, _twins_of(font, twins_by_file) if swap_marks else {},
                _Settled.of(font), _shifts_of(font) if swap_marks else {},
                _pieces_of(font) if swap_marks else _NO_PIECES)
        font, font_size, twins, settled, shifts, (pieces, piece_glyphs) = known
        if font.bitmap:
            pen += sum(fields[1::5])
            if runs is not None:
                runs.clear()
                runs = None
            continue
        rtl = bool(level % 2)
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
                entry = [pango_font, font, font_size, fields, (offset, length, level), None,
                         cuts, {}]
                runs.append(entry)
        if settled.done[rtl].issuperset(glyph_ids) and twins.keys().isdisjoint(glyph_ids) \
                and shifts.keys().isdisjoint(glyph_ids) and piece_glyphs.isdisjoint(glyph_ids):
            pen += sum(fields[1::5])
            if runs is not None and any(fields[3::5]):      # a glyph off the baseline
                runs.clear()
                runs = None
            continue
        clusters = clusters()
        if entry is not None:
            entry[5] = clusters
        starts = sorted(set(clusters))
        ends = dict(zip(starts, starts[1:] + [length]))
        groups = {}
        # A letter drawn in pieces (add_shift_twins): the first piece's place on the line
        # taken by an invisible glyph of the whole letter, the others' left empty; the
        # pieces drawn hidden.
        pieces_here = _letter_pieces(fields, clusters, pieces) if pieces else {}
        for i, cluster in enumerate(clusters):
            glyph, width = fields[5 * i] & 0xFFFFFFFF, fields[5 * i + 1]
            if glyph != pango.PANGO_GLYPH_EMPTY and not glyph & pango.PANGO_GLYPH_UNKNOWN_FLAG:
                piece = pieces_here.get(i)
                if piece is not None:
                    marks.append((font, font_size, pango_font, shifts[glyph][1], pen,
                                  fields[5 * i + 2], fields[5 * i + 3]))
                    if entry is not None:
                        entry[7][i] = (glyph, fields[5 * i + 2], piece is False)
                    _swap(fields, glyph_string, i,
                          pango.PANGO_GLYPH_EMPTY if piece is False else piece)
                    if piece is not False:
                        groups.setdefault(cluster, []).append((piece, True))
                    pen += width
                    continue
                shift = shifts.get(glyph)
                if shift is not None and (fields[5 * i + 2] or fields[5 * i + 3]):
                    # A letter its font shifts: drawn shifted apart, hidden, as a mark
                    # is; on the line, at the pen, an invisible twin of its advance
                    # carries its text.
                    marks.append((font, font_size, pango_font, shift[1], pen,
                                  fields[5 * i + 2], fields[5 * i + 3]))
                    if entry is not None:       # show_line keeps the pens as they were
                        entry[7][i] = (glyph, fields[5 * i + 2], False)
                    glyph = shift[0]
                    _swap(fields, glyph_string, i, glyph)
                groups.setdefault(cluster, []).append((glyph, bool(width)))
                twin = twins.get(glyph)
                if twin is not None:
                    marks.append((font, font_size, pango_font, glyph, pen,
                                  fields[5 * i + 2], fields[5 * i + 3]))
                    # On the pen position, unshifted: an invisible glyph needs
                    # no offset, and shifts make pdf.js cut the line in pieces.
                    _swap(fields, glyph_string, i, twin)
            pen += width
        if runs is not None and any(fields[3::5]):      # off the baseline, not a mark
            runs.clear()
            runs = None
        to_unicode = font.to_unicode
        for start, glyphs in groups.items():
            text = utf8[offset + start:offset + ends[start]].decode()
            for glyph, chars in assign(tuple(glyphs), text, rtl):
                glyph = twins.get(glyph, glyph)
                to_unicode[glyph] = chars
                settled.add(glyph, chars, rtl)
    for font, _size, _pango_font, glyph, *_position in marks:
        # The visible mark is only ever drawn hidden from extractors; pdf.js
        # skips a glyph whose text ends with a format character.
        font.to_unicode[glyph] = WORD_JOINER
    return marks



def _swap(fields, glyph_string, i, glyph):
    """Put ``glyph`` in place of glyph ``i`` of a run, on the pen (no offsets): in the
    fields read (show_line draws them) and in Pango's glyph string (WeasyPrint's own
    drawing, when it draws the line)."""
    if glyph_string is not None:
        info = glyph_string.glyphs[i]
        info.glyph = glyph
        info.geometry.x_offset = info.geometry.y_offset = 0
    fields[5 * i], fields[5 * i + 2], fields[5 * i + 3] = glyph, 0, 0


def _glyph_items(line):
    """(item, glyph string, glyph count) of each run of a PangoLayoutLine."""
    from weasyprint.text.ffi import ffi

    run = line.runs[0] if line.runs != ffi.NULL else ffi.NULL
    while run != ffi.NULL:
        glyph_item = run.data
        run = run.next
        yield glyph_item.item, glyph_item.glyphs, glyph_item.glyphs.num_glyphs


def _pango_runs(layout):
    """The runs of ``layout``'s first line as Pango has them now: (Pango font, glyph
    fields, clusters (a function), (offset, length, bidi level), glyph string, no
    cuts) — see ``KeptLine.runs_for``."""
    from weasyprint.text.ffi import ffi, pango

    # WeasyPrint sets this before drawing; setting it first keeps Pango from
    # laying the line out again, which would undo the swaps map_first_line makes.
    pango.pango_layout_set_single_paragraph_mode(layout.layout, True)
    first_line, _ = layout.get_first_line()
    for item, glyph_string, count in _glyph_items(first_line):
        # One copy of the C arrays into Python lists: far cheaper than
        # indexing cdata glyph by glyph (this runs for every line drawn).
        # A PangoGlyphInfo is five 32-bit fields: glyph, width, x offset,
        # y offset, attributes (install() checks the size).
        fields = memoryview(
            ffi.buffer(glyph_string.glyphs, count * _GLYPH_INFO)).cast("i").tolist()
        yield (item.analysis.font, fields,
               functools.partial(ffi.unpack, glyph_string.log_clusters, count),
               (item.offset, item.length, item.analysis.level), glyph_string, ())



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
    spacing = READER_SPACING
    spaces_before = 0
    for index, (pango_font, font, font_size, fields, (start, length, level), clusters,
                cuts, shifted) in enumerate(runs):
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
            if cuts and i in cuts and parts[-1][-1] != "<":
                # Where Pango starts a new run WeasyPrint closes its glyph string and
                # opens the next one.
                parts.append("><")
            glyph_id, width, x_offset = fields[5 * i], fields[5 * i + 1], fields[5 * i + 2]
            if i in shifted and shifted[i][2]:
                # A letter's later piece, drawn hidden: the pen where it would have left it.
                pen_move = _pen_after(shifted[i], width, font_size, pango_font, widths, stream)
                parts.append(f">{-pen_move}<")
                continue
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
                if level % 2:
                    t2 = length if i == 0 else clusters[i - 1]
                else:
                    t2 = length if i == count - 1 else clusters[i + 1]
                # A later glyph of its cluster gets no characters: PDFium would then read
                # the glyph's number as a character (a stray Thai or Gurmukhi letter).
                to_unicode[glyph_id] = utf8[start + t1:start + t2].decode() or WORD_JOINER
            offset = x_offset / font_size
            logical_width = _width(stream, pango_font, font_size, widths, glyph_id)
            kerning = logical_width + offset - width * 1000 * FROM_UNITS / font_size
            if i in shifted:
                # A shifted letter's invisible twin (map_first_line): the pen after it
                # where the letter's own shift and kerning, rounded as WeasyPrint
                # rounds them, would have put it, so that nothing after it moves.
                pen_move = _pen_after(shifted[i], width, font_size, pango_font, widths, stream)
                parts.append(f"{glyph_id:04x}>{logical_width - pen_move}<")
                continue
            is_space = to_unicode[glyph_id] in SPACE_TEXTS
            spaces_before = spaces_before + 1 if is_space else 0
            if (spacing and offset and level % 2 and is_space
                    and spaces_before + _spaces_after(runs, index, i) <= SPACE_ROW
                    and (text_glyphs := _text_glyphs_of(font))):
                # A justified space (READER_SPACING), at the start of its gap; the
                # glyphs after it where WeasyPrint puts them, to the same rounding.
                blank = text_glyphs["space"]
                blank_width = _width(stream, pango_font, font_size, widths, blank)
                parts.append(f"{blank:04x}>"
                             f"{blank_width - logical_width - offset + int(kerning)}<")
                if i == count - 1 and (index + 1 == len(runs) or runs[index + 1][4][2] % 2 == 0):
                    parts.append(f"{text_glyphs['rlm']:04x}")
                continue
            if offset:
                parts.append(f">{-offset}<")
            parts.append(f"{glyph_id:04x}")
            if kerning:
                parts.append(f">{int(kerning)}<")
        run_string = "".join(parts)
        string += run_string[:-1] if run_string[-1] == "<" else run_string + ">"
    stream.show_text(string)


def _pen_after(drawn, width, font_size, pango_font, widths, stream):
    """How far (thousandths of the font size) WeasyPrint's own drawing of glyph
    ``drawn`` = (id, x offset, _) would move the pen: its shift, its width and its
    kerning rounded as WeasyPrint rounds it (show_line)."""
    from weasyprint.text.ffi import FROM_UNITS

    glyph, x_offset = drawn[0], drawn[1] / font_size
    own = _width(stream, pango_font, font_size, widths, glyph)
    return x_offset + own - int(own + x_offset - width * 1000 * FROM_UNITS / font_size)


def _width(stream, pango_font, font_size, widths, glyph):
    """A glyph's width in the PDF font (thousandths of the font size), from Pango's
    extents as WeasyPrint takes it, remembered in ``widths`` (the font's /W)."""
    from weasyprint.text.ffi import FROM_UNITS, pango

    found = widths.get(glyph)
    if found is None:
        pango.pango_font_get_glyph_extents(pango_font, glyph, stream.ink_rect,
                                           stream.logical_rect)
        found = widths[glyph] = round(
            stream.logical_rect.width * 1000 * FROM_UNITS / font_size)
    return found


def _spaces_after(runs, index, i):
    """How many spaces are drawn right after glyph ``i`` of ``runs[index]`` (up to
    ``SPACE_ROW``)."""
    count = 0
    while count < SPACE_ROW:
        i += 1
        while index < len(runs) and 5 * i >= len(runs[index][3]):
            index, i = index + 1, 0
        if index == len(runs) or (
                runs[index][1].to_unicode.get(runs[index][3][5 * i]) not in SPACE_TEXTS):
            return count
        count += 1
    return count


def _text_glyphs_of(font):
    """{"space"|"rlm": glyph id} of the invisible glyphs of a WeasyPrint font's file,
    their text and widths given to the font; empty for a font without them."""
    glyphs = getattr(font, "matbaa_text_glyphs", None)
    if glyphs is None:
        glyphs = font.matbaa_text_glyphs = _text_glyphs.get(_digest_of(font), {})
        if glyphs:
            font.to_unicode[glyphs["space"]] = " "
            font.to_unicode[glyphs["rlm"]] = RLM
            font.widths[glyphs["rlm"]] = 0
    return glyphs


def _digest_of(font):
    digest = getattr(font, "matbaa_digest", None)
    if digest is None:
        digest = font.matbaa_digest = hashlib.sha256(font.file_content).hexdigest()
    return digest


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


_NO_PIECES = ({}, frozenset())


def _pieces_of(font):
    """The letters the file behind a WeasyPrint font draws in pieces (``_piece_twins``),
    and every glyph of them."""
    pieces = getattr(font, "matbaa_pieces", None)
    if pieces is None:
        found = _piece_twins.get(_digest_of(font), {})
        pieces = font.matbaa_pieces = (found, frozenset(g for key in found for g in key))
    return pieces


def _letter_pieces(fields, clusters, pieces):
    """{glyph index: the letter's invisible glyph (first piece) or False (another)} for
    the letters of a run drawn in pieces."""
    found, by_cluster = {}, {}
    for i, cluster in enumerate(clusters):
        if fields[5 * i + 1]:
            by_cluster.setdefault(cluster, []).append(i)
    for indexes in by_cluster.values():
        if len(indexes) > 1:
            twin = pieces.get(tuple(fields[5 * i] for i in indexes))
            if twin is not None:
                found[indexes[0]] = twin
                found.update(dict.fromkeys(indexes[1:], False))
    return found


def _shifts_of(font):
    """The shift twins of the file behind a WeasyPrint font (``_shift_twins``)."""
    shifts = getattr(font, "matbaa_shifts", None)
    if shifts is None:
        shifts = font.matbaa_shifts = _shift_twins.get(_digest_of(font), {})
    return shifts


def _twins_of(font, twins_by_file):
    """The mark twins of the file behind a WeasyPrint font."""
    twins = getattr(font, "matbaa_twins", None)
    if twins is None:
        twins = font.matbaa_twins = twins_by_file.get(_digest_of(font), {})
    return twins


def draw_marks(stream, marks, matrix):
    """Draw the visible marks set aside by ``map_first_line``, hidden from extractors."""
    from weasyprint.text.ffi import FROM_UNITS

    if not marks:
        return
    a, b, c, d, e, f = matrix.values
    _begin_hidden(stream)
    for font, font_size, pango_font, glyph, pen, x_offset, y_offset in marks:
        _width(stream, pango_font, font_size, font.widths, glyph)
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
    glyph whose text starts with white space as a space.  (A justified space is
    drawn as another glyph, READER_SPACING.)  (pdf.js skips a
    glyph whose text ends with a format character, so it leaves punctuation
    out; the words it reads are unaffected.)

    Except ``. , : % -`` in left-to-right runs, which stand inside or beside numbers
    («9.5», «10,000», «12:30», «9.7%», «2017-2018») and need no mark for poppler
    there: PDFium counts U+200E as a run of its own, so a framed «.» cut «9.5» into
    three runs that its right-to-left line reversed into «5.9» (docs/readers.md).
    """
    mark = RLM if rtl else LRM
    if not rtl and char in NUMBER_SEPARATORS:
        return char
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


# Lines drawn from their last layout's glyphs.  Tests switch it off to compare bytes.
KEEP_LINES = True
# Bytes of the kept lines alive in this process, and how many may be: beyond that a
# line is shaped again to be drawn.  The 304 corpus articles as one document keep
# ~22 MB of them (measured: peak RSS 268 MB without, 279 MB with, lines let go as
# they are drawn; 292 MB if kept until the document goes).
_kept = {"bytes": 0, "budget": 32 * 1024 * 1024}
_KEPT_LINE_OVERHEAD = 300       # bytes of Python objects around a line's arrays
# Characters that make Pango start a new paragraph, and tabs: lines holding them
# are laid out again to be drawn, as WeasyPrint does.
_NOT_KEPT = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_SPACES = frozenset(" \u00a0")
_SPACE_BYTES = re.compile(" |\u00a0".encode())


class KeptLine:
    """A line's glyphs, copied from the layout WeasyPrint made of it last, before it let
    go of that layout.

    WeasyPrint lays every line out to find where it ends, drops the Pango layout, and
    to draw the line sets one up and shapes the line again (``Layout.reactivate``) —
    the same glyphs, except that a justified line's spaces are wider.  This keeps the
    glyphs and widens the spaces the way Pango does: a letter-spacing attribute on
    each space, which Pango turns into that much more advance and half of it as the
    glyph's offset, each space being a run of its own.  A line this cannot reproduce
    (a space that shares its cluster; spacing at the line's ends, tabs, letter or word
    spacing of its own: ``_deferrable``) is laid out again (``runs_for`` returns None).

    One difference, on purpose: Pango shapes a widened space alone, in the font it
    gives a lone space (the first family's, Naskh), not in its run's, so WeasyPrint
    drew a space between two Latin words with Naskh's narrower space (221 against 260
    thousandths of an em) and every justified line of Latin text ended short of the
    measure by that much a space (0.9–2.3 pt on a 90 mm column, measured).  Here the
    space keeps its run's glyph, the one the line was measured with: the line ends
    flush.  Lines whose spaces Pango shapes in their run's font (Arabic text) are
    drawn byte for byte as WeasyPrint draws them.

    Memory: the glyph and cluster arrays as bytes, 24 bytes a glyph, for every line
    until it is drawn (or its document let go); no more than MATBAA_KEPT_LINES_BYTES
    in a process (lines beyond it are not kept).
    """

    __slots__ = ("text", "runs", "size")

    def __init__(self, layout):
        from weasyprint.text.ffi import ffi, pango

        self.size = 0
        self.text = layout.text
        self.runs = []
        size = _KEPT_LINE_OVERHEAD
        line = pango.pango_layout_get_line_readonly(layout.layout, 0)
        for item, glyph_string, count in _glyph_items(line):
            font = item.analysis.font
            self.runs.append((
                font, _hold(font),
                ffi.buffer(glyph_string.glyphs, count * _GLYPH_INFO)[:],
                ffi.buffer(glyph_string.log_clusters, count * 4)[:],
                (item.offset, item.length, item.analysis.level)))
            size += count * (_GLYPH_INFO + 4)
        self.size = size
        _kept["bytes"] += size

    def __del__(self):
        _kept["bytes"] -= self.size

    def runs_for(self, layout, utf8):
        """The runs as drawing ``layout`` (this line, maybe justified) would shape them:
        (Pango font, glyph fields, clusters (a function), (offset, length, bidi level),
        None, where Pango would start new runs (glyph indexes))."""
        from weasyprint.text.ffi import TO_UNITS

        spacing = layout.justification_spacing
        spaces = None
        if spacing:
            # As WeasyPrint's Layout.set_text(justify=True) with no word or letter
            # spacing of its own (draw_text only defers such lines).
            spacing = int(spacing * TO_UNITS)
            left = spacing // 2 if spacing >= 0 else -(-spacing // 2)
            if not spacing & 1023:       # Pango rounds a whole-unit spacing's half
                left = (left + 512) & ~1023
            spaces = {match.start(): match.end() - match.start()
                      for match in _SPACE_BYTES.finditer(utf8)}
        runs, widened = [], 0
        for font, _held, glyphs, clusters, place in self.runs:
            fields = memoryview(glyphs).cast("i").tolist()
            cluster_list = memoryview(clusters).cast("i").tolist()
            cuts = ()
            if spaces:
                offset, length, _level = place
                glyph_of = {cluster: i for i, cluster in enumerate(cluster_list)}
                inside = [(index - offset, size) for index, size in spaces.items()
                          if offset <= index < offset + length]
                if inside:
                    cuts = set()
                    last = len(cluster_list) - 1
                    for cluster, size in inside:
                        i = glyph_of.get(cluster)
                        # The space is a cluster of one glyph, followed by another
                        # cluster of this run or by its end.
                        if (i is None or (i > 0 and cluster_list[i - 1] == cluster)
                                or (i < last and cluster_list[i + 1] == cluster)
                                or (cluster + size != length
                                    and cluster + size not in glyph_of)):
                            return None
                        fields[5 * i + 1] += spacing
                        fields[5 * i + 2] += left
                        # WeasyPrint draws where a run starts: it closes and opens
                        # its glyph string there (show_line).
                        cuts.add(i)
                        cuts.add(i + 1)
                    widened += len(inside)
            runs.append((font, fields, functools.partial(list, cluster_list), place, None,
                         cuts))
        if spaces and widened != len(spaces):
            return None
        return runs


# Holds on the Pango fonts kept lines use, by address: a process draws with a
# handful of fonts, and a font held here cannot be freed and its address reused.
_HOLDS = {}
MAX_HELD_FONTS = 4096


def _hold(font):
    """Keep the Pango font ``font`` alive while kept lines may still draw with it."""
    from weasyprint.text.ffi import ffi

    address = int(ffi.cast("uintptr_t", font))
    hold = _HOLDS.get(address)
    if hold is None:
        hold = _FontHold(address)
        if len(_HOLDS) < MAX_HELD_FONTS:
            _HOLDS[address] = hold
    return hold


class _FontHold:
    """A reference to a GObject (WeasyPrint's bindings declare no g_object_ref)."""

    __slots__ = ("_pointer",)
    _gobject = None

    def __init__(self, address):
        cls = type(self)
        if cls._gobject is None:
            import cffi

            ffi = cffi.FFI()
            ffi.cdef("void *g_object_ref (void *object); void g_object_unref (void *object);")
            cls._ffi, cls._gobject = ffi, ffi.dlopen("libgobject-2.0.so.0")
        self._pointer = cls._ffi.gc(cls._gobject.g_object_ref(cls._ffi.cast("void *", address)),
                                    cls._gobject.g_object_unref)


def _deferrable(textbox, args):
    """Whether ``draw_text(stream, textbox, *args)`` may draw from the kept line."""
    layout = textbox.pango_layout
    kept = layout.__dict__.get("matbaa_line")
    if kept is None or kept.text != layout.text or not (KEEP_LINES and FAST_DRAWING):
        return False
    if len(args) != 3 or args[1] == "ellipsis" or args[2] != "none":
        return False
    style = textbox.style
    text = kept.text
    if (style["font_size"] < 1e-6 or style["letter_spacing"] not in ("normal", 0)
            or style["word_spacing"] != 0 or not text.strip()
            or not _NOT_KEPT.isdisjoint(text)):
        return False
    return not (layout.justification_spacing and (text[0] in _SPACES or text[-1] in _SPACES))


def _kept_lines_active():
    from weasyprint.text import line_break

    return getattr(line_break.first_line_metrics, "matbaa_kept_lines", False)


def _prepare_kept_lines(_context):
    """Keep each line's glyphs when WeasyPrint drops its layout; draw from them."""
    from weasyprint import draw as draw_package
    from weasyprint.draw import text as draw_text_module
    from weasyprint.layout import inline
    from weasyprint.text import line_break

    layout_class = line_break.Layout
    original_metrics = line_break.first_line_metrics
    original_deactivate = layout_class.deactivate
    original_reactivate = layout_class.reactivate
    original_draw_text = draw_text_module.draw_text
    original_add_word_spacing = inline.add_word_spacing

    def first_line_metrics(first_line, text, layout, *args, **kwargs):
        # Its last step lets go of the layout, the line's final one.
        if KEEP_LINES:
            layout.matbaa_keep = True
        return original_metrics(first_line, text, layout, *args, **kwargs)

    def deactivate(self):
        state = self.__dict__
        if state.pop("matbaa_keep", False) and _kept["bytes"] < _kept["budget"]:
            state["matbaa_line"] = KeptLine(self)
        if "layout" in state:
            original_deactivate(self)
        else:
            # Drawn from its kept line, never set up again; the line is let go (a
            # document drawn again lays it out again).
            state.pop("style", None)
            state.pop("matbaa_line", None)

    def reactivate(self, style):
        if self.__dict__.pop("matbaa_defer", False):
            self.style = style
            return
        original_reactivate(self, style)

    def draw_text(stream, textbox, *args):
        if not _deferrable(textbox, args):
            return original_draw_text(stream, textbox, *args)
        layout = textbox.pango_layout
        layout.matbaa_defer = True
        try:
            return original_draw_text(stream, textbox, *args)
        finally:
            layout.__dict__.pop("matbaa_defer", None)

    def add_word_spacing(context, box, justification_spacing, x_advance):
        # Justifying gives a text box a new layout of the same text: it keeps the line.
        before = getattr(box, "pango_layout", None)
        x_advance = original_add_word_spacing(context, box, justification_spacing, x_advance)
        after = getattr(box, "pango_layout", None)
        if after is not before and before is not None and "matbaa_line" in before.__dict__:
            after.matbaa_line = before.matbaa_line
        return x_advance

    from . import Refused

    for function, expected in ((original_metrics, "(first_line, text, layout, resume_at, "
                                "space_collapse, style, hyphenated=False, "
                                "hyphenation_character=None)"),
                               (original_deactivate, "(self)"),
                               (original_reactivate, "(self, style)"),
                               (original_add_word_spacing,
                                "(context, box, justification_spacing, x_advance)")):
        if str(inspect.signature(function)) != expected:
            raise Refused(f"{function.__qualname__}{inspect.signature(function)} is not the "
                          f"expected {expected}")
    if draw_package.draw_text is not original_draw_text:
        raise Refused("weasyprint.draw.draw_text is not weasyprint.draw.text.draw_text")
    first_line_metrics.matbaa_kept_lines = True

    def apply():
        line_break.first_line_metrics = first_line_metrics
        layout_class.deactivate = deactivate
        layout_class.reactivate = reactivate
        layout_class.matbaa_set_up = original_reactivate
        draw_text_module.draw_text = draw_package.draw_text = draw_text
        inline.add_word_spacing = add_word_spacing

    return apply


def _mends():
    from . import CORRECTNESS, SPEED, Mend

    return [
        Mend("text-layer", CORRECTNESS, ("weasyprint.draw.text.draw_first_line",),
             "each glyph is given its own characters, marks drawn twice (an invisible "
             "carrier on the baseline), spaces and punctuation with their direction, so "
             "the PDF's text reads back as the article",
             "weasyprint-one-tounicode-entry-per-glyph-taken-from-its-first-shaping-cluster",
             _prepare_text_layer, _text_layer_active, refresh=_refresh_text_layer),
        Mend("kept-lines", SPEED,
             ("weasyprint.text.line_break.first_line_metrics",
              "weasyprint.text.line_break.Layout.deactivate",
              "weasyprint.text.line_break.Layout.reactivate",
              "weasyprint.draw.text.draw_text", "weasyprint.draw.draw_text",
              "weasyprint.layout.inline.add_word_spacing"),
             "a line is drawn from the glyphs of its last layout instead of being set up "
             "and shaped again",
             "weasyprint-every-line-shaped-again-to-be-drawn",
             _prepare_kept_lines, _kept_lines_active, requires=("text-layer",)),
    ]


MENDS = _mends()
