from service import textlayer
from service.article import parse_article
from service.textlayer import LRM, RLM, _Settled, assign

from .conftest import pdftotext


def split(glyphs, text, rtl):
    """``assign`` with glyphs given as (id, advance) pairs."""
    return assign(tuple((glyph, bool(advance)) for glyph, advance in glyphs), text, rtl)


def test_single_letter_and_ligature():
    assert split([(10, 500)], "ب", rtl=True) == [(10, "ب")]
    assert split([(11, 900)], "لله", rtl=True) == [(11, "هلل")]
    assert split([(12, 600)], "fi", rtl=False) == [(12, "fi")]


def test_neutrals_carry_their_direction():
    assert split([(3, 250)], " ", rtl=True) == [(3, f" {RLM}")]
    assert split([(4, 250)], "%", rtl=False) == [(4, f"{LRM}%{LRM}")]
    assert split([(5, 250)], "،", rtl=True) == [(5, f"{RLM}،{RLM}")]


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
