"""Line layout: WeasyPrint's line breaking, mended so a right-to-left line is laid out once.

WeasyPrint 70's ``layout.inline.get_next_linebox`` lays a line out, asks where
floats allow it to go, and lays it out again until the position stops moving.
For left-to-right text it compares the line's start; for right-to-left text it
compares ``position_x + line.width`` with ``original_position_x +
original_width`` — but ``original_width`` is 0 on the first pass (the line box
is emptied before the loop), so every right-to-left line is laid out twice
even with no float anywhere.  For a right-to-left line box ``avoid_collisions``
already returns the right bound, the cursor, which does not depend on the
line's width, so the left-to-right comparison is the right one for both
directions.  Same PDF, byte for byte (tests/test_layout.py); 15–22% of an
Arabic render's time (bench/RESULTS.md, raw against mended).  Reported in docs/upstream.md.

The function is rebuilt from WeasyPrint's own source with that one comparison
replaced; if the source no longer has the shape we expect (another WeasyPrint
release) nothing is changed and ``install`` says so.
"""

import ast
import inspect
import logging
import textwrap

log = logging.getLogger(__name__)

_state = {"original": None}


def install():
    """Lay right-to-left lines out once (idempotent). True if the mend is in place."""
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


def uninstall():
    """Put WeasyPrint's own function back (for tests that compare the two)."""
    from weasyprint.layout import inline

    if _state["original"] is not None:
        inline.get_next_linebox = _state["original"]
        _state["original"] = None


def installed():
    from weasyprint.layout import inline

    return bool(getattr(inline.get_next_linebox, "matbaa_layout", False))


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
