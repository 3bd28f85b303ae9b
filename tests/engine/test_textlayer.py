import collections
import re
import subprocess

import pytest

from service.engine import textlayer
from service.article import parse_article
from service.engine.textlayer import LRM, RLM, _Settled, assign

from ..conftest import pdftotext, sample


def split(glyphs, text, rtl):
    """``assign`` with glyphs given as (id, advance) pairs."""
    return assign(tuple((glyph, bool(advance)) for glyph, advance in glyphs), text, rtl)


def test_single_letter_and_ligature():
    assert split([(10, 500)], "ب", rtl=True) == [(10, "ب")]
    assert split([(11, 900)], "لله", rtl=True) == [(11, "هلل")]
    assert split([(12, 600)], "fi", rtl=False) == [(12, "fi")]


def test_neutrals_carry_their_direction():
    assert split([(3, 250)], " ", rtl=True) == [(3, f" {RLM}")]
    assert split([(4, 250)], "/", rtl=False) == [(4, f"{LRM}/{LRM}")]
    assert split([(5, 250)], "،", rtl=True) == [(5, f"{RLM}،{RLM}")]
    assert split([(6, 250)], "%", rtl=True) == [(6, f"{RLM}%{RLM}")]


def test_what_stands_inside_a_number_is_bare_in_left_to_right_runs():
    """«9.5», «10,000», «12:30», «9.7%», «2017-2018»: PDFium counts U+200E as a run of
    its own and reversed the pieces of a framed number («5.9», «9.10%»)."""
    for char in ".,:%-":
        assert split([(7, 250)], char, rtl=False) == [(7, char)]


def test_base_and_mark_are_split():
    # In a right-to-left run the mark glyph comes first (visual order).
    assert split([(20, 0), (21, 300)], "اً", rtl=True) == [(21, "ا"), (20, "ً")]
    assert split([(20, 0), (22, 0), (21, 300)], "دُّ", rtl=True) == [
        (21, "د"), (20, "ّ"), (22, "ُ")]


def test_lone_mark_keeps_its_character():
    assert split([(30, 0)], "َ", rtl=True) == [(30, "َ")]


def test_uncertain_clusters_are_left_alone():
    assert split([(1, 300), (2, 300)], "اً", rtl=True) == []


def test_any_space_reads_back_plain():
    # Fonts draw the no-break space with the space glyph; a glyph has one text.
    assert split([(3, 250)], "\xa0", rtl=True) == [(3, f" {RLM}")]
    assert split([(3, 250)], "\u2009", rtl=False) == [(3, f" {LRM}")]


def test_a_glyph_is_done_per_direction_until_given_two_texts():
    settled = _Settled()
    settled.add(7, "ب", rtl=True)
    settled.add(8, f" {RLM}", rtl=True)
    assert settled.done[True] == {7, 8} and settled.done[False] == set()
    settled.add(7, "ب", rtl=False)
    assert 7 in settled.done[False]
    # One full stop drawn in both directions: mapped again wherever it is drawn.
    settled.add(9, f"{RLM}.{RLM}", rtl=True)
    settled.add(9, f"{LRM}.{LRM}", rtl=False)
    settled.add(9, f"{LRM}.{LRM}", rtl=False)
    assert 9 not in settled.done[True] | settled.done[False]
    assert settled.texts[9] == f"{LRM}.{LRM}"


def test_runs_already_mapped_are_not_mapped_again(renderer, tmp_path, monkeypatch):
    """A paragraph twenty times over costs the text layer about what it costs once,
    and every copy still reads back."""
    calls = []
    monkeypatch.setattr(textlayer, "assign", lambda *a: calls.append(a) or assign(*a))
    paragraph = ("قال الوزير في مؤتمر صحفي إن الحكومة ستعرض خطة جديدة للنقل العام "
                 "على البرلمان الأسبوع المقبل، وإن كلفتها تبلغ 120 مليون دينار.")

    def render(copies):
        calls.clear()
        article = parse_article({"id": f"copies-{copies}", "title": "خطة النقل",
                                 "published_at": "2026-11-01",
                                 "paragraphs": [paragraph] * copies})
        return renderer.pdf(article).pdf, len(calls)

    _pdf, once = render(1)
    pdf, twenty = render(20)
    assert once > 50
    assert twenty < 2 * once, (once, twenty)
    text = pdftotext(pdf, tmp_path)
    assert text.count("الحكومة") == 20 and text.count("البرلمان") == 20


def test_lines_drawn_from_the_fields_read_give_weasyprints_bytes(renderer, monkeypatch):
    """show_line draws a line from the glyph fields the text layer has read; WeasyPrint
    reads them again from C.  Same PDF, byte for byte: marks (swapped for their twins),
    ligatures, Latin, digits, kerning, justified spaces, a glyph no font has (drawn by
    WeasyPrint, as are running headers cut with an ellipsis), several fonts on a line.
    (Without the spaces drawn for the readers, which WeasyPrint does not do.)"""
    monkeypatch.setattr(textlayer, "KEEP_LINES", False)     # lines shaped again to be drawn
    monkeypatch.setattr(textlayer, "READER_SPACING", False)
    drawn = []
    show_line = textlayer.show_line
    monkeypatch.setattr(textlayer, "show_line", lambda *a: drawn.append(1) or show_line(*a))
    body = ("<p>مُؤَكِّداً أنَّ العبدالله قال: «الحمد لله»، ثم أضاف بالإنجليزية "
            "<b>Reuters</b> و<i>AV</i> وWAVE في 3.11 و١٢٣ و(٤٥٪)، والـ PDF/A-3.</p>"
            "<p>رمز لا يوجد في أي خط: \U0001F9EA، وبعده نص عادي.</p>" * 3)
    articles = [parse_article({"id": "drawn", "title": "عنوانٌ طويلٌ جداً " * 12,
                               "section": "قسم", "body_html": body * 6})]
    articles += [parse_article(sample(name)) for name in ("kuwait-coalition-meeting",
                                                          "arabic-printing-history")]
    for article in articles:
        fast = renderer.pdf(article).pdf
        monkeypatch.setattr(textlayer, "FAST_DRAWING", False)
        assert renderer.pdf(article).pdf == fast, article.id
        monkeypatch.setattr(textlayer, "FAST_DRAWING", True)
    assert len(drawn) > 100
    # SVG text goes through the same function, glyph by glyph.
    svg = ("<html lang=ar dir=rtl><body><svg width=300 height=80 "
           "xmlns='http://www.w3.org/2000/svg'><text x=10 y=40 font-family='Matbaa Naskh' "
           "font-size=20 letter-spacing=2>مرحباً بالعالم Hello 123</text></svg>")
    drawn.clear()
    fast = renderer.html_to_pdf(svg)
    monkeypatch.setattr(textlayer, "FAST_DRAWING", False)
    assert renderer.html_to_pdf(svg) == fast
    assert drawn


def count_drawn_from_kept(monkeypatch):
    """Counts of lines drawn from their kept glyphs and of lines laid out again."""
    from weasyprint.text.line_break import Layout

    counts = collections.Counter()
    runs_for, set_up = textlayer.KeptLine.runs_for, Layout.matbaa_set_up

    def counted_runs_for(self, layout, utf8):
        runs = runs_for(self, layout, utf8)
        counts["kept" if runs is not None else "not reproducible"] += 1
        return runs

    def counted_set_up(self, style):
        counts["laid out again"] += 1
        return set_up(self, style)

    monkeypatch.setattr(textlayer.KeptLine, "runs_for", counted_runs_for)
    monkeypatch.setattr(Layout, "matbaa_set_up", counted_set_up)
    return counts


def with_lines_laid_out_again(monkeypatch, render):
    """``render()`` with lines drawn from their kept glyphs, then shaped again."""
    kept = render()
    monkeypatch.setattr(textlayer, "KEEP_LINES", False)
    again = render()
    monkeypatch.setattr(textlayer, "KEEP_LINES", True)
    return kept, again


def same_with_lines_laid_out_again(monkeypatch, render):
    kept, again = with_lines_laid_out_again(monkeypatch, render)
    return kept == again


def test_lines_drawn_from_their_kept_glyphs_give_weasyprints_bytes(renderer, monkeypatch):
    """A line is drawn from the glyphs kept from its last layout, its justified spaces
    widened as Pango widens them, instead of being set up and shaped again: same PDF,
    byte for byte, where the line's spaces are in its run's font (Arabic text).  Here:
    justified Arabic, Latin words, a no-break space, marks before and after a space (a
    stray tanween, as in the corpus), ligatures, digits, inline markup, a glyph no
    font has (laid out again for WeasyPrint's own drawing), a running header cut with
    an ellipsis."""
    counts = count_drawn_from_kept(monkeypatch)
    body = ("<p>مُؤَكِّداً أنَّ العبدالله قال: «الحمد لله»، ثم أضاف بالإنجليزية "
            "<b>Reuters</b> و<i>AV</i> وWAVE في 3.11 و١٢٣ و(٤٥٪)، والـ PDF/A-3 "
            "وبلغت الكلفة 120\u00a0مليون دينار، فَ قالَ نَعَمْ، ثم جاء «برنامج الحوار» ًوعلى "
            "الجائزة الثانية.</p>"
            "<p>قال <b> الوزير </b> إن رمزاً لا يوجد في أي خط: \U0001F9EA، وبعده نص "
            "عادي يكفي ليملأ السطر ويمتد إلى سطر ثان على الأقل.</p>"
            "<p>" + "سطر عادي من نص المقال يملأ السطر ثم كلمة ًوعلى أخرى، " * 6 + "</p>")
    articles = [parse_article({"id": "kept", "title": "عنوانٌ طويلٌ جداً " * 12,
                               "section": "قسم", "body_html": body * 8}),
                parse_article(sample("arabic-printing-history"))]
    for article in articles:
        assert same_with_lines_laid_out_again(
            monkeypatch, lambda: renderer.pdf(article).pdf), article.id
    assert counts["kept"] > 250, counts
    assert counts["laid out again"] >= 8, counts        # the lines with a missing glyph


@pytest.mark.parametrize("style", [
    "", "letter-spacing: 1px", "word-spacing: 3px", "white-space: pre-wrap",
    "text-align: justify; text-align-last: justify", "direction: ltr"])
def test_kept_lines_in_other_styles_give_weasyprints_bytes(renderer, monkeypatch, style):
    """Lines this does not reproduce (letter or word spacing of their own, tabs,
    spaces at a justified line's ends) are laid out again, as WeasyPrint does."""
    text = ("نص\tعربي مع\u00a0مسافة و Latin ثم <b> كلمة </b> أخرى " * 12)
    html = (f"<html lang=ar dir=rtl><body><p style='text-align: justify; {style}'>"
            f"{text}</p><p style='{style}'>{text}</p></body></html>")
    assert same_with_lines_laid_out_again(monkeypatch, lambda: renderer.html_to_pdf(html))


def line_ends(pdf, tmp_path):
    """(left, right) of each text line (pdftotext -bbox-layout), in points."""
    path = tmp_path / "lines.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-bbox-layout", str(path), "-"], capture_output=True,
                         text=True, check=True).stdout
    return [(float(left), float(right)) for left, right in re.findall(
        r'<line xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"', out)]


@pytest.mark.parametrize("hyphens", ["auto", "manual"])
def test_justified_latin_lines_end_flush(renderer, monkeypatch, tmp_path, hyphens):
    """WeasyPrint measures a justified line with its spaces in their run's font, then
    draws each widened space alone in the first family's font (Naskh's space is
    narrower than the Latin font's): every line of Latin text ended short.  Drawn
    from the kept glyphs, lines end on the measure; the text reads back the same."""
    text = ("Typesetting internationalization requires extraordinarily comprehensive "
            "consideration of in\u00adcompre\u00adhensibilities, and the print\u00adshop "
            "counts every characteristically unpredictable hyphenation opportunity. ") * 6
    html = (f"<html lang=en><body style='width: 90mm'><p style='text-align: justify; "
            f"hyphens: {hyphens}'>{text}</p><p dir=rtl lang=ar style='text-align: justify'>"
            + "سطر عربي فيه عبارة Reuters News Agency بالإنجليزية وكلمات أخرى بعدها، " * 8
            + "</p></body></html>")
    counts = count_drawn_from_kept(monkeypatch)
    kept, again = with_lines_laid_out_again(monkeypatch, lambda: renderer.html_to_pdf(html))
    assert counts["kept"] > 20 and not counts["not reproducible"], counts
    assert pdftotext(kept, tmp_path) == pdftotext(again, tmp_path)
    start, end = 51.02, 51.02 + 90 / 25.4 * 72        # the column's edges, in points

    def justified(pdf):
        """(left, right) of the lines that fill the column (all but paragraphs' last)."""
        return [(left, right) for left, right in line_ends(pdf, tmp_path)
                if right - left > end - start - 5]

    lines = justified(kept)
    assert len(lines) >= 12
    assert all(abs(left - start) < 0.2 and abs(right - end) < 0.2 for left, right in lines), lines
    # Not so when each line is shaped again to be drawn: the test can tell.
    assert any(left > start + 0.8 or right < end - 0.8 for left, right in justified(again))


def test_kept_lines_cut_with_an_ellipsis_give_weasyprints_bytes(renderer, monkeypatch):
    html = ("<html lang=en><body style='width: 90mm'><p style='text-overflow: ellipsis; "
            "white-space: nowrap; overflow: hidden'>" + "A line too long to fit. " * 10
            + "</p></body></html>")
    assert same_with_lines_laid_out_again(monkeypatch, lambda: renderer.html_to_pdf(html))


@pytest.mark.corpus
def test_corpus_edition_part_reads_the_same_with_lines_kept(shared_dir, renderer, monkeypatch,
                                                            tmp_path):
    """Forty corpus articles as an edition part: the same text layer and pages; the
    bytes differ only where Latin words are justified (above)."""
    from service.verify import article_text

    from ..test_corpus import corpus_articles

    counts = count_drawn_from_kept(monkeypatch)
    articles = list(corpus_articles(shared_dir))[:40]
    options = renderer.default_options()
    kept, again = with_lines_laid_out_again(
        monkeypatch, lambda: renderer.edition_part("t", articles, options, 1, [1])["pdf"])
    assert pdftotext(kept, tmp_path) == pdftotext(again, tmp_path)
    assert counts["kept"] > 500, counts
    # Articles without Latin text: byte for byte.
    arabic = [a for a in articles if not re.search(r"[A-Za-z]", article_text(a))][:10]
    assert len(arabic) >= 5
    assert same_with_lines_laid_out_again(
        monkeypatch, lambda: renderer.edition_part("t", arabic, options, 1, [1])["pdf"])


def test_kept_lines_stay_within_their_memory(renderer, monkeypatch):
    """Lines are kept only while the process's kept lines fit MATBAA_KEPT_LINES_BYTES;
    the others are shaped again to be drawn, with the same bytes; a render's kept
    lines are let go with its document."""
    import gc

    counts = count_drawn_from_kept(monkeypatch)
    article = parse_article(sample("arabic-printing-history"))
    gc.collect()
    before = textlayer._kept["bytes"]
    whole = renderer.pdf(article).pdf
    gc.collect()
    assert textlayer._kept["bytes"] == before
    all_kept = counts["kept"]
    assert all_kept > 100, counts
    for budget, least, most in ((0, 0, 0), (20_000, 1, all_kept - 1)):
        monkeypatch.setitem(textlayer._kept, "budget", before + budget)
        counts.clear()
        assert renderer.pdf(article).pdf == whole
        assert least <= counts["kept"] <= most, (budget, counts)


def pages_as_pixels(pdf, tmp_path):
    """Every page of ``pdf`` in 8-bit gray at 100 dpi (pdftoppm), as bytes."""
    path = tmp_path / "pages.pdf"
    path.write_bytes(pdf)
    for old in tmp_path.glob("page-*.pgm"):
        old.unlink()
    subprocess.run(["pdftoppm", "-gray", "-r", "100", str(path), str(tmp_path / "page")],
                   check=True)
    return [page.read_bytes() for page in sorted(tmp_path.glob("page-*.pgm"))]


def test_spaces_drawn_for_the_readers_change_no_pixel(renderer, monkeypatch, tmp_path):
    """Justified spaces drawn at the start of their gap and the invisible U+200F before
    a left-to-right run (READER_SPACING): the same pages, pixel for pixel, as the
    glyphs drawn where WeasyPrint draws them; but not the same PDF."""
    from ..test_readers import JUSTIFIED

    articles = [parse_article(sample(name)) for name in (
        "kuwait-coalition-meeting", "arabic-printing-history", "nova-digital-archive-platform")]
    articles.append(parse_article(JUSTIFIED))
    for article in articles:
        spaced = renderer.pdf(article).pdf
        monkeypatch.setattr(textlayer, "READER_SPACING", False)
        as_weasyprint = renderer.pdf(article).pdf
        monkeypatch.setattr(textlayer, "READER_SPACING", True)
        assert spaced != as_weasyprint, article.id
        pages = pages_as_pixels(spaced, tmp_path)
        assert pages and pages == pages_as_pixels(as_weasyprint, tmp_path), article.id
