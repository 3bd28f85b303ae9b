"""Layout: WeasyPrint 70's layout, mended in three places; the same PDF, byte for byte.

**Right-to-left lines are laid out once.**  ``layout.inline.get_next_linebox``
lays a line out, asks where floats allow it to go, and lays it out again until
the position stops moving.  For left-to-right text it compares the line's
start; for right-to-left text it compares ``position_x + line.width`` with
``original_position_x + original_width`` — but ``original_width`` is 0 on the
first pass (the line box is emptied before the loop), so every right-to-left
line is laid out twice even with no float anywhere.  For a right-to-left line
box ``avoid_collisions`` already returns the right bound, the cursor, which
does not depend on the line's width, so the left-to-right comparison is the
right one for both directions.  15–22% of an Arabic render's time
(bench/RESULTS.md, raw against mended).  The function is rebuilt from
WeasyPrint's own source with that one comparison replaced; if the source no
longer has the shape we expect (another WeasyPrint release) nothing is changed
and ``install`` says so.

**Pages share their styles.**  WeasyPrint gives every page its own page type
(its index is part of it, for ``@page :nth()``), so it cascades and computes
the page's style and its sixteen margin boxes' styles again for every page,
and each new page type's lookup walks all the earlier ones.  Pages that match
the same ``@page`` rules — same side, blank or not, first or not, same page
name — get the same styles, so when no stylesheet uses ``:nth()`` the styles
of the first such page are given to the others.  Measured (A/B in one process,
bench figures in bench/RESULTS.md): an edition's 323 page-number pages 2.85 →
1.22 s, a 33-page article 4.20 → 3.98 s.

**A word that cannot fit is not tried.**  ``split_first_line`` lays out a draft
of the paragraph's text, and when Pango ends the first line before a word it
lays the line out again with that word added (Pango may have counted the space
after the word against the width).  When the word's glyphs on the draft's
second line are already wider than the room left, with a pixel to spare, that
second layout cannot fit it and is skipped: the function then goes on exactly
as after a failed try (same line, same break).  Nearly every line of justified
text took that second layout.  (With Debian 12's Pango 1.50 the retry never
changed a line of the 304 corpus articles: skipping it always gave the same
bytes; the width check keeps WeasyPrint's behaviour for a Pango that does end
lines early.)  Same bytes for all 304 corpus articles (checked once; the tests
check 60 and the samples); A/B in one process: a 10-page article 1.168 →
1.132 s, the seed article 0.166 → 0.165 s.

**SVG text with right-to-left letters is laid out as one line.**  WeasyPrint
70 lays out and draws SVG text letter by letter (each letter may have its own
position): Arabic came out unjoined, left to right, and read back reversed.
When a text element has right-to-left letters and no per-letter position, no
rotation, spacing or length, its whole text is taken as one "letter": one line
shaped by Pango, drawn through the text layer, placed and anchored as
WeasyPrint places any text.  Other SVG text is left as it was.

All are reported in docs/upstream.md; tests/test_layout.py checks them.
"""

import ast
import inspect
import logging
import textwrap
import unicodedata

log = logging.getLogger(__name__)

_state = {"original": None, "page styles": None, "split": None, "svg text": None}
# A word on the draft's second line whose glyphs overflow the first line's room by
# more than this (CSS px) is not tried on the first line.
SPARE_PX = 1.0


def install():
    """Put the mends in place (for tests; ``engine.install`` is the way in). True if all
    are in place."""
    from . import Refused

    done = True
    for mend in MENDS:
        if mend.active():
            continue
        try:
            mend.prepare(None)()
        except Refused as refusal:
            log.warning("%s left as WeasyPrint has it: %s", mend.name, refusal)
            done = False
    return done


def uninstall():
    """Put WeasyPrint's own functions back (for tests that compare the two)."""
    from weasyprint.layout import inline
    from weasyprint.layout import page

    if _state["original"] is not None:
        inline.get_next_linebox = _state["original"]
        _state["original"] = None
    if _state["page styles"] is not None:
        page.set_page_type_computed_styles = _state["page styles"]
        _state["page styles"] = None
    if _state["split"] is not None:
        _set_split_first_line(_state["split"])
        _state["split"] = None
    if _state["svg text"] is not None:
        _set_svg_text(_state["svg text"])
        _state["svg text"] = None


def installed():
    return all(mend.active() for mend in MENDS)


def _lines_active():
    from weasyprint.layout import inline

    return getattr(inline.get_next_linebox, "matbaa_layout", False)


def _page_styles_active():
    from weasyprint.layout import page

    return getattr(page.set_page_type_computed_styles, "matbaa_layout", False)


def _word_check_active():
    from weasyprint.layout import inline, preferred
    from weasyprint.text import line_break

    return all(getattr(module.split_first_line, "matbaa_layout", False)
               for module in (line_break, inline, preferred))


def _svg_text_active():
    from weasyprint import svg

    return getattr(svg.text, "matbaa_layout", False)


def _prepare_lines(_context):
    from weasyprint.layout import inline

    return _prepare_rebuilt(inline, "get_next_linebox", _keep_left_to_right_check, "original")


def _install_rebuilt(module, name, edit, state_key, what, assign=None):
    """``_prepare_rebuilt`` and apply, at once; False (WeasyPrint's own left) if refused."""
    from . import Refused

    if getattr(getattr(module, name, None), "matbaa_layout", False):
        return True
    try:
        _prepare_rebuilt(module, name, edit, state_key, assign)()
    except Refused as error:
        log.warning("%s left as WeasyPrint has it: %s", what, error)
        return False
    return True


def _prepare_rebuilt(module, name, edit, state_key, assign=None):
    """The function that puts ``module.name``, rebuilt from its source with ``edit`` (see
    ``_rebuild``), in place; Refused if the source is not as expected."""
    from . import Refused

    current = getattr(module, name, None)
    if current is None:
        raise Refused(f"{module.__name__}.{name} does not exist")
    try:
        mended = _rebuild(current, module, edit)
    except (OSError, TypeError, SyntaxError, _ShapeChanged) as error:
        raise Refused(f"{module.__name__}.{name}: {error}") from None
    mended.matbaa_layout = True

    def apply():
        _state[state_key] = current
        if assign is None:
            setattr(module, name, mended)
        else:
            assign(mended)

    return apply


def _prepare_page_styles(_context):
    from weasyprint.layout import page

    from . import Refused

    original = page.set_page_type_computed_styles
    signature = str(inspect.signature(original))
    if signature != "(page_type, html, style_for)" or page.PageType._fields != (
            "side", "blank", "name", "index", "groups"):
        raise Refused(f"set_page_type_computed_styles{signature}, PageType"
                      f"{page.PageType._fields}")

    def set_page_type_computed_styles(page_type, html, style_for):
        shared = _page_classes(style_for)
        if shared is None:
            return original(page_type, html, style_for)
        # What _page_type_match looks at when no selector has an index.
        key = (page_type.side, page_type.blank, page_type.name, page_type.index == 0)
        computed = style_for.get_computed_styles()
        if key not in shared:
            original(page_type, html, style_for)
            shared[key] = page_type, [pseudo for element, pseudo in list(computed)
                                      if element == page_type]
            return
        first, pseudos = shared[key]
        for pseudo in pseudos:
            computed[page_type, pseudo] = computed[first, pseudo]

    set_page_type_computed_styles.matbaa_layout = True

    def apply():
        _state["page styles"] = original
        page.set_page_type_computed_styles = set_page_type_computed_styles

    return apply


def _page_classes(style_for):
    """The page styles already computed for this document, by what @page rules can
    tell apart; None when some rule selects pages by index (``:nth()``), or the
    stylesheets are not where WeasyPrint 70 keeps them."""
    classes = getattr(style_for, "matbaa_page_classes", None)
    if classes is None:
        try:
            nth = any(selector[2].index is not None
                      for sheet, _origin, _specificity in style_for._sheets
                      for _rule, selectors, _declarations in sheet.page_rules
                      for selector in selectors)
        except (AttributeError, TypeError, ValueError, IndexError):
            nth = True
        classes = style_for.matbaa_page_classes = False if nth else {}
    return None if classes is False else classes


def _prepare_word_check(_context):
    from weasyprint.layout import inline, preferred
    from weasyprint.text import line_break

    from . import Refused

    if not (inline.split_first_line is preferred.split_first_line
            is line_break.split_first_line):
        raise Refused("split_first_line is not one function in line_break, inline and "
                      "preferred")
    line_break.__dict__["_matbaa_next_word_may_fit"] = next_word_may_fit
    return _prepare_rebuilt(line_break, "split_first_line", _add_word_check, "split",
                            assign=_set_split_first_line)


def _set_split_first_line(function):
    # Imported by name into the layout modules: each keeps its own reference.
    from weasyprint.layout import inline, preferred
    from weasyprint.text import line_break

    for module in (line_break, inline, preferred):
        module.split_first_line = function


# The test of the retry in WeasyPrint 70's split_first_line, and what is added to it.
_RETRY_TEST = "space_collapse and second_line_text[break_point or -1] == ' '"
_WORD_CHECK = ("_matbaa_next_word_may_fit(layout, first_line_width, max_width, "
               "first_line_text, next_word)")


def _add_word_check(tree):
    tests = [node for node in ast.walk(tree)
             if isinstance(node, ast.If) and ast.unparse(node.test) == _RETRY_TEST]
    if len(tests) != 1:
        raise _ShapeChanged(f"expected one next-word retry, found {len(tests)}")
    check = ast.parse(_WORD_CHECK, mode="eval").body
    tests[0].test = ast.BoolOp(op=ast.And(), values=[tests[0].test, check])


def next_word_may_fit(layout, first_line_width, max_width, first_line_text, next_word):
    """False when ``next_word``, as the draft laid it out at the start of its second
    line, is wider than what the first line leaves, by more than SPARE_PX.  True
    whenever that cannot be read (no first-line text, the word not whole there)."""
    from weasyprint.text.ffi import FROM_UNITS, ffi, pango

    if not first_line_text:
        return True    # WeasyPrint's retry then also decides where the line ends
    line = pango.pango_layout_get_line_readonly(layout.layout, 1)
    if line == ffi.NULL:
        return True
    start = len(first_line_text.encode())
    end = start + len(next_word.encode())
    if start != line.start_index or end > line.start_index + line.length:
        return True
    width = 0
    run = line.runs
    while run != ffi.NULL:
        item, glyphs = run.data.item, run.data.glyphs
        if item.offset < end and item.offset + item.length > start:
            clusters = ffi.unpack(glyphs.log_clusters, glyphs.num_glyphs)
            for index, cluster in enumerate(clusters):
                if start <= item.offset + cluster < end:
                    width += glyphs.glyphs[index].geometry.width
        run = run.next
    return first_line_width + width * FROM_UNITS <= max_width + SPARE_PX


def _prepare_svg_text(_context):
    import importlib

    from weasyprint import svg

    from . import Refused

    # The module, not the function the package exports under the same name.
    text_module = importlib.import_module("weasyprint.svg.text")
    if svg.text is not text_module.text or not any(f is svg.text for f in svg.TAGS.values()):
        raise Refused("weasyprint.svg.text is not the function svg.TAGS draws text with")
    text_module.__dict__["_matbaa_letters"] = svg_letters
    return _prepare_rebuilt(text_module, "text", _letters_from_node, "svg text",
                            assign=_set_svg_text)


def _set_svg_text(function):
    # The svg package keeps the function twice: in its tag table, and as the name
    # it compares tags' functions with (to anchor text).
    from weasyprint import svg

    for tag, drawn_by in list(svg.TAGS.items()):
        if drawn_by is svg.text:
            svg.TAGS[tag] = function
    svg.text = function


def _letters_from_node(tree):
    """``for char in node.text`` (where the letters are listed) → ``in _matbaa_letters(node)``."""
    loops = [generator for node in ast.walk(tree) if isinstance(node, ast.ListComp)
             for generator in node.generators
             if ast.unparse(generator.iter) == "node.text"
             and ast.unparse(generator.target) == "char"]
    if len(loops) != 1:
        raise _ShapeChanged(f"expected one loop over the letters, found {len(loops)}")
    loops[0].iter = ast.parse("_matbaa_letters(node)", mode="eval").body


# Per-letter SVG attributes: with more than one value, letters are placed one by one.
_LETTER_LISTS = ("x", "y", "dx", "dy")


def svg_letters(node):
    """The "letters" WeasyPrint places one by one for an SVG text node: its whole text
    as one when it has right-to-left letters and nothing placed letter by letter."""
    from weasyprint.svg.utils import normalize

    text = node.text
    if not any(unicodedata.bidirectional(char) in ("R", "AL") for char in text):
        return text
    attributes = node.attrib
    if any(len(normalize(attributes[name]).split()) > 1
           for name in _LETTER_LISTS if name in attributes):
        return text
    # rotate turns each glyph about its own origin, even with one value.
    if "rotate" in attributes or "textLength" in attributes or normalize(
            attributes.get("letter-spacing", "0")).strip() not in ("0", "normal", ""):
        return text
    return [text]


class _ShapeChanged(Exception):
    pass


def _rebuild(function, module, edit):
    """``function`` compiled again from its own source after ``edit(tree)`` changed
    its syntax tree (raising _ShapeChanged when the source is not as expected), in
    its module's namespace."""
    lines, first_line = inspect.getsourcelines(function)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    ast.increment_lineno(tree, first_line - 1)
    edit(tree)
    ast.fix_missing_locations(tree)
    namespace = {}
    exec(compile(tree, inspect.getsourcefile(function), "exec"),  # noqa: S102
         module.__dict__, namespace)
    return namespace[function.__name__]


def _keep_left_to_right_check(tree):
    replaced = 0
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            statements = getattr(node, field, None)
            if not isinstance(statements, list):
                continue
            for index, statement in enumerate(statements):
                if _is_direction_check(statement):
                    # Keep the left-to-right comparison for both directions.
                    statements[index:index + 1] = statement.body
                    replaced += 1
    if replaced != 1:
        raise _ShapeChanged(f"expected one direction check, found {replaced}")


def _is_direction_check(statement):
    """``if containing_block.style['direction'] == 'ltr': condition = … else: condition = …``"""
    if not isinstance(statement, ast.If) or not statement.orelse:
        return False
    test = statement.test
    if not (isinstance(test, ast.Compare) and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "ltr"
            and "direction" in ast.unparse(test.left)):
        return False
    assigned = {target.id for branch in (statement.body, statement.orelse)
                for assignment in branch if isinstance(assignment, ast.Assign)
                for target in assignment.targets if isinstance(target, ast.Name)}
    return assigned == {"condition"}


def _mends():
    from . import CORRECTNESS, SPEED, Mend

    return [
        Mend("rtl-lines", SPEED, ("weasyprint.layout.inline.get_next_linebox",),
             "a right-to-left line is laid out once, not twice (the left-to-right "
             "comparison of its float loop holds for both directions); the same PDF",
             "weasyprint-every-right-to-left-line-laid-out-twice", _prepare_lines,
             _lines_active),
        Mend("page-styles", SPEED, ("weasyprint.layout.page.set_page_type_computed_styles",),
             "pages matched by the same @page rules share their computed styles; the same "
             "PDF", "weasyprint-page-styles-computed-again-for-every-page",
             _prepare_page_styles, _page_styles_active),
        Mend("word-check", SPEED,
             ("weasyprint.text.line_break.split_first_line",
              "weasyprint.layout.inline.split_first_line",
              "weasyprint.layout.preferred.split_first_line"),
             "a word that cannot fit on a line is not laid out on it again; the same PDF",
             "weasyprint-each-line-laid-out-again-with-the-next-word-which-never-fits",
             _prepare_word_check, _word_check_active),
        Mend("svg-text", CORRECTNESS, ("weasyprint.svg.text.text", "weasyprint.svg.TAGS"),
             "Arabic in an SVG image is shaped as one line and reads back as written, not "
             "letter by letter, unjoined and reversed",
             "weasyprint-svg-text-laid-out-and-drawn-letter-by-letter", _prepare_svg_text,
             _svg_text_active),
    ]


MENDS = _mends()
