from service.textlayer import LRM, RLM, assign


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
