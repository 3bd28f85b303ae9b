"""Joining: Arabic letters stay joined across inline markup.

WeasyPrint shapes each inline box's text on its own, so a word split by
markup («الكويت» with a link on «الكو», a prefix «بـ» outside a link, a bold
letter) falls apart into isolated letter forms.  After WeasyPrint builds its
box tree, and before layout, we look at every boundary between two pieces of
text in a line and put a joiner on both sides where the letters would join,
as the W3C's reference renderings do (css-text "boundary shaping"):

* ZERO WIDTH JOINER where the letter before can join forward and the letter
  after can join backward (marks in between are transparent);
* ZERO WIDTH NON-JOINER where CSS Text says shaping breaks: a boundary with
  non-zero margin, padding or border, or one that isolates (``<bdi>``, ``dir``).

Joiners are default-ignorable: Pango draws nothing for them and the text layer
(service/textlayer.py) leaves them out.  Computed styles are only known here,
which is why this works on boxes rather than on HTML.
"""

import unicodedata

ZWJ, ZWNJ = "\u200d", "\u200c"

# Arabic letters that join only to the letter before them (Unicode ArabicShaping.txt, R).
_RIGHT_JOINING = set(
    "\u0622\u0623\u0624\u0625\u0627\u0629\u062f\u0630\u0631\u0632\u0648\u0671\u0672\u0673"
    "\u0675\u0676\u0677\u06c0\u06c3\u06c4\u06c5\u06c6\u06c7\u06c8\u06c9\u06ca\u06cb\u06cd"
    "\u06cf\u06d2\u06d3\u06d5\u06ee\u06ef\u0759\u075a\u075b\u076b\u076c\u0771\u0773\u0774"
    "\u0778\u0779\u08aa\u08ab\u08ac\u08ae\u08b1\u08b2\u08b9") | {
    chr(c) for c in range(0x0688, 0x069A)}
_NON_JOINING = set("\u0621\u0674\u06dd")
_JOIN_CAUSING = set("\u0640" + ZWJ)


def joining_type(char):
    """Unicode joining type: 'D' dual, 'R' right, 'C' causing, 'T' transparent, 'U' none."""
    if char in _JOIN_CAUSING:
        return "C"
    if unicodedata.category(char) in {"Mn", "Me"} or char == "\u200b":
        return "T"
    if char in _NON_JOINING or char == ZWNJ:
        return "U"
    if char in _RIGHT_JOINING:
        return "R"
    code = ord(char)
    if unicodedata.category(char) == "Lo" and (
            0x0620 <= code <= 0x06FF or 0x0750 <= code <= 0x077F or 0x08A0 <= code <= 0x08FF):
        return "D"
    return "U"


def joins_forward(char):
    return joining_type(char) in {"D", "C"}


def joins_backward(char):
    return joining_type(char) in {"D", "R", "C"}


def install():
    """The mend of this module (for tests); ``engine.install`` is the way in."""
    if not _active():
        _prepare(None)()


def _active():
    from weasyprint import document

    return getattr(document.build_formatting_structure, "matbaa_joining", False)


def _prepare(_context):
    """Make WeasyPrint add joiners at inline boundaries of every document."""
    import inspect

    from weasyprint import document
    from weasyprint.formatting_structure import boxes

    from . import Refused

    original = document.build_formatting_structure
    signature = str(inspect.signature(original))
    expected = "(element_tree, style_for, get_image_from_uri, base_url, target_collector, " \
               "counter_style, footnotes)"
    if signature != expected:
        raise Refused(f"build_formatting_structure{signature} is not the expected {expected}")
    for name in ("InlineBox", "TextBox", "LineBox"):
        if not hasattr(boxes, name):
            raise Refused(f"weasyprint.formatting_structure.boxes has no {name}")

    def build_formatting_structure(*args, **kwargs):
        root = original(*args, **kwargs)
        join_across_boxes(root)
        return root

    build_formatting_structure.matbaa_joining = True

    def apply():
        document.build_formatting_structure = build_formatting_structure

    return apply


def _mends():
    from . import CORRECTNESS, Mend

    return [Mend("joining", CORRECTNESS, ("weasyprint.document.build_formatting_structure",),
                 "letters stay joined across inline markup (a link or bold on part of a "
                 "word): zero-width joiners at box boundaries, as the W3C's reference "
                 "renderings show", "weasyprint-inline-boxes-are-shaped-apart",
                 _prepare, _active)]


def join_across_boxes(root):
    """Insert joiners at the inline boundaries of every line of the box tree."""
    from weasyprint.formatting_structure import boxes

    for line in _descendants(root, boxes.LineBox):
        pieces = list(_flatten(line, boxes))
        for index in range(1, len(pieces)):
            if pieces[index - 1][0] is not None and pieces[index][0] is not None:
                _join(pieces, index, crossed=pieces[index][1])


def _descendants(box, kind):
    if isinstance(box, kind):
        yield box
        return
    for child in getattr(box, "children", ()):
        yield from _descendants(child, kind)


def _flatten(line, boxes):
    """Yield (text box or None, inline boxes crossed since the previous piece)."""
    crossed = []

    def walk(box):
        if isinstance(box, boxes.TextBox):
            yield box, list(crossed)
            crossed.clear()
        elif isinstance(box, boxes.InlineBox):
            crossed.append(box)
            for child in box.children:
                yield from walk(child)
            crossed.append(box)
        else:
            # An image or inline-block between two texts: nothing joins across it.
            yield None, list(crossed)
            crossed.clear()

    for child in line.children:
        yield from walk(child)


def _join(pieces, index, crossed):
    left_box, right_box = pieces[index - 1][0], pieces[index][0]
    left = _last_letter(pieces, index - 1)
    right = _first_letter(pieces, index)
    if left is None or right is None:
        return
    if left_box.text.endswith((ZWJ, ZWNJ)) or right_box.text.startswith((ZWJ, ZWNJ)):
        return   # the author already decided
    if not (joins_forward(left) and joins_backward(right)):
        return
    joiner = ZWNJ if any(_breaks_shaping(box) for box in crossed) else ZWJ
    left_box.text += joiner
    right_box.text = joiner + right_box.text


def _last_letter(pieces, index):
    for box, _crossed in reversed(pieces[:index + 1]):
        if box is None:
            return None
        for char in reversed(box.text):
            if joining_type(char) != "T":
                return char
    return None


def _first_letter(pieces, index):
    for box, _crossed in pieces[index:]:
        if box is None:
            return None
        for char in box.text:
            if joining_type(char) != "T":
                return char
    return None


def _breaks_shaping(box):
    """CSS Text: spacing or isolation at an inline boundary breaks shaping across it."""
    if box.element_tag == "bdi" or (box.element is not None and box.element.get("dir")):
        return True
    style = box.style
    for side in ("left", "right"):
        for name in (f"margin_{side}", f"padding_{side}"):
            value = style[name]
            if value != "auto" and getattr(value, "value", value):
                return True
        if style[f"border_{side}_width"]:
            return True
    return False


MENDS = _mends()
