"""Text layer: each drawn line carries its logical text as /ActualText.

WeasyPrint maps glyphs back to characters through the font's ToUnicode table,
which cannot express what Arabic shaping does: ligatures such as «الله» read
back reversed, marks drawn with text rise split lines, and digit or Latin runs
inside Arabic lose the space beside them.  PDF marked content lets a sequence
of glyphs declare the text it stands for (ISO 32000-1, 14.9.4), and text
extractors (poppler's pdftotext, pdf.js, Acrobat) use it for copy, search and
indexing.  We wrap every line WeasyPrint draws in
``/Span <</ActualText (logical text)>> BDC … EMC``.

This wraps one WeasyPrint function; ``install()`` checks its signature so an
upgrade that changes it fails loudly at start-up instead of silently.
"""

import inspect

EXPECTED_SIGNATURE = "(stream, textbox, text_overflow, block_ellipsis, matrix)"


class TextLayerError(RuntimeError):
    """The installed WeasyPrint no longer draws text the way we hook into."""


def install():
    """Make WeasyPrint emit /ActualText for every line of text it draws (idempotent)."""
    import pydyf
    from weasyprint.draw import text as draw_text_module

    original = draw_text_module.draw_first_line
    if getattr(original, "matbaa_actual_text", False):
        return
    signature = str(inspect.signature(original))
    if signature != EXPECTED_SIGNATURE:
        raise TextLayerError(
            f"weasyprint.draw.text.draw_first_line{signature} is not the expected "
            f"{EXPECTED_SIGNATURE}; pin WeasyPrint to a version Matbaa supports")

    def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):
        text = textbox.text
        if not text.strip():
            return original(stream, textbox, text_overflow, block_ellipsis, matrix)
        stream.begin_marked_content(
            "Span", pydyf.Dictionary({"ActualText": pydyf.String(text)}))
        try:
            return original(stream, textbox, text_overflow, block_ellipsis, matrix)
        finally:
            stream.end_marked_content()

    draw_first_line.matbaa_actual_text = True
    draw_text_module.draw_first_line = draw_first_line
