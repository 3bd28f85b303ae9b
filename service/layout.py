"""Layout: WeasyPrint 70's layout, mended in two places; the same PDF, byte for byte.

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

Both are reported in docs/upstream.md; tests/test_layout.py checks the bytes.
"""

import ast
import inspect
import logging
import textwrap

log = logging.getLogger(__name__)

_state = {"original": None, "page styles": None}


def install():
    """Put both mends in place (idempotent). True if both are in place."""
    return _install_lines() & _install_page_styles()


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


def installed():
    from weasyprint.layout import inline
    from weasyprint.layout import page

    return bool(getattr(inline.get_next_linebox, "matbaa_layout", False)
                and getattr(page.set_page_type_computed_styles, "matbaa_layout", False))


def _install_lines():
    from weasyprint.layout import inline

    if getattr(inline.get_next_linebox, "matbaa_layout", False):
        return True
    original = inline.get_next_linebox
    try:
        mended = _mend(original, inline)
    except (OSError, TypeError, SyntaxError, _ShapeChanged) as error:
        log.warning("right-to-left line layout left as WeasyPrint has it: %s", error)
        return False
    mended.matbaa_layout = True
    _state["original"] = original
    inline.get_next_linebox = mended
    return True


def _install_page_styles():
    from weasyprint.layout import page

    if getattr(page.set_page_type_computed_styles, "matbaa_layout", False):
        return True
    original = page.set_page_type_computed_styles
    signature = str(inspect.signature(original))
    if signature != "(page_type, html, style_for)" or page.PageType._fields != (
            "side", "blank", "name", "index", "groups"):
        log.warning("page styles left as WeasyPrint computes them: "
                    "set_page_type_computed_styles%s, PageType%s", signature,
                    page.PageType._fields)
        return False

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
    _state["page styles"] = original
    page.set_page_type_computed_styles = set_page_type_computed_styles
    return True


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


class _ShapeChanged(Exception):
    pass


def _mend(function, module):
    lines, first_line = inspect.getsourcelines(function)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    ast.increment_lineno(tree, first_line - 1)
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
        raise _ShapeChanged(f"expected one direction check in {function.__name__}, "
                            f"found {replaced}")
    namespace = {}
    exec(compile(tree, inspect.getsourcefile(function), "exec"),  # noqa: S102
         module.__dict__, namespace)
    return namespace[function.__name__]


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
